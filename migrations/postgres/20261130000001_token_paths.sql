-- Fewer random-key indexes on the vault (PostgreSQL). Keep in step with migrations/sqlite.
--
-- Every entry of an index keyed by a MAC or a token lands on a random page: each intake wrote one
-- such entry per value in `tokens(value_mac)` and one in `vault_values(token)`. Neither is needed:
-- a value's token is found among its candidate tokens (which derive from its MAC) through the
-- tokens' primary key, and a token's values through its subject. See BENCHMARKS.md.
ALTER TABLE tokens DROP CONSTRAINT tokens_value_mac_key;
COMMENT ON COLUMN tokens.value_mac IS 'The value this token stands for now (a rectified value moves its token along).';

DROP INDEX vault_values_token;
DROP INDEX vault_values_subject;
CREATE INDEX vault_values_subject ON vault_values(subject_id, token);
