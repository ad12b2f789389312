-- Fewer random-key indexes on the vault (SQLite). Keep in step with migrations/postgres.
--
-- Every entry of an index keyed by a MAC or a token lands on a random page: each intake wrote, and
-- each erasure removed, one such entry per value in `tokens(value_mac)` and one in
-- `vault_values(token)`. Neither is needed: a value's token is found among its candidate tokens
-- (which derive from its MAC) through the tokens' primary key, and a token's values through its
-- subject, whose ids are time-ordered. See BENCHMARKS.md, "Fewer random-key indexes".

-- SQLite cannot drop a column's UNIQUE constraint: the table is rebuilt without it.
CREATE TABLE tokens_new (
    token TEXT PRIMARY KEY,
    -- The value this token stands for now (a rectified value moves its token along).
    value_mac BLOB NOT NULL,
    subject_id BLOB NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    shape TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tokens_new (token, value_mac, subject_id, shape, created_at)
    SELECT token, value_mac, subject_id, shape, created_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_subject ON tokens(subject_id);

DROP INDEX vault_values_token;
DROP INDEX vault_values_subject;
CREATE INDEX vault_values_subject ON vault_values(subject_id, token);
