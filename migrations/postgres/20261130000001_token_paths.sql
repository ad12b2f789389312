-- Fewer random-key indexes on the vault (PostgreSQL). Keep in step with migrations/sqlite.
--
-- Every entry of an index keyed by a MAC or a token lands on a random page: each intake wrote one
-- such entry per value in `tokens(value_mac)` and one in `vault_values(token)`, and each erasure
-- one in `erased_tokens`. None is needed: a value's token is found among its candidate tokens
-- (they derive from its MAC) through the tokens' primary key; a token's values through its
-- subject; and an erased token stays in `tokens` as a tombstone. See BENCHMARKS.md.
ALTER TABLE tokens
    DROP CONSTRAINT tokens_value_mac_key,
    ALTER COLUMN value_mac DROP NOT NULL,
    ALTER COLUMN subject_id DROP NOT NULL,
    ADD COLUMN erased_at BIGINT,
    ADD CONSTRAINT tokens_erased CHECK ((erased_at IS NULL) = (subject_id IS NOT NULL AND value_mac IS NOT NULL));
COMMENT ON COLUMN tokens.value_mac IS 'The value this token stands for now (a rectified value moves its token along); NULL once destroyed.';
COMMENT ON COLUMN tokens.erased_at IS 'A tombstone: the values behind this token were destroyed; detokenize answers erased, and the token is never issued again.';
INSERT INTO tokens (token, shape, created_at, erased_at)
    SELECT token,
           CASE WHEN token LIKE 't-%@%' THEN 'email' WHEN token LIKE '+%' THEN 'phone' ELSE 'generic' END,
           erased_at, erased_at
    FROM erased_tokens
    ON CONFLICT (token) DO NOTHING;
DROP TABLE erased_tokens;
DROP INDEX tokens_subject;
CREATE INDEX tokens_subject ON tokens(subject_id) WHERE subject_id IS NOT NULL;

DROP INDEX vault_values_token;
DROP INDEX vault_values_subject;
CREATE INDEX vault_values_subject ON vault_values(subject_id, token);
