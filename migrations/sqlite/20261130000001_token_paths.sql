-- Fewer random-key indexes on the vault (SQLite). Keep in step with migrations/postgres.
--
-- Every entry of an index keyed by a MAC or a token lands on a random page of a large B-tree: each
-- intake wrote, and each erasure removed, one such entry per value in `tokens(value_mac)` and one
-- in `vault_values(token)`, and each erasure added one to `erased_tokens`. None is needed: a
-- value's token is found among its candidate tokens (they derive from its MAC) through the tokens'
-- primary key; a token's values through its subject, whose ids are time-ordered; and an erased
-- token stays in `tokens` as a tombstone, updated in place on the page its row already occupies.
-- See BENCHMARKS.md, "Fewer random-key indexes".

-- SQLite cannot drop a UNIQUE constraint or a NOT NULL: the table is rebuilt.
CREATE TABLE tokens_new (
    token TEXT PRIMARY KEY,
    -- The value this token stands for now (a rectified value moves its token along); NULL once
    -- the value is destroyed.
    value_mac BLOB,
    subject_id BLOB REFERENCES subjects(id) ON DELETE CASCADE,
    shape TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- A tombstone: the values behind this token were destroyed (the token alone identifies nobody
    -- once the key is gone); a later detokenize answers `erased`, and the token is never issued again.
    erased_at INTEGER,
    CHECK ((erased_at IS NULL) = (subject_id IS NOT NULL AND value_mac IS NOT NULL))
) WITHOUT ROWID;
INSERT INTO tokens_new (token, value_mac, subject_id, shape, created_at)
    SELECT token, value_mac, subject_id, shape, created_at FROM tokens;
INSERT INTO tokens_new (token, shape, created_at, erased_at)
    SELECT token,
           CASE WHEN token LIKE 't-%@%' THEN 'email' WHEN token LIKE '+%' THEN 'phone' ELSE 'generic' END,
           erased_at, erased_at
    FROM erased_tokens WHERE true
    ON CONFLICT (token) DO NOTHING;
DROP TABLE tokens;
DROP TABLE erased_tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_subject ON tokens(subject_id) WHERE subject_id IS NOT NULL;

DROP INDEX vault_values_token;
DROP INDEX vault_values_subject;
CREATE INDEX vault_values_subject ON vault_values(subject_id, token);
