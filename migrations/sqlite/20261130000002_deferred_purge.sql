-- Erased subjects' random-key entries purged in key order (SQLite). Keep in step with migrations/postgres.
--
-- A subject's key, search-index entries and tokens are keyed by random MACs and tokens, and each
-- had a second index by subject: erasing a subject wrote one random page per entry in one of the
-- two. The sweeper now deletes the subject (its wrapped key, values and consent records: nothing
-- of it can be read from then on), lists it in `purge_pending`, and once the sweep's pages are done
-- a purge walks each table in key order, writing each page once. So those tables lose their index
-- by subject (a walk in key order would remove its entries at random), and a subject's entries are
-- found another way: its key in `subjects.key_mac`, its search-index MACs in `subject_macs`
-- (keyed by subject, deleted in subject order), its tokens through `vault_values`. Until the purge,
-- a leftover entry points at no subject and every reader treats it as gone; the entries therefore
-- no longer cascade from `subjects`. See BENCHMARKS.md, "Purging in key order".

ALTER TABLE subjects ADD COLUMN key_mac BLOB;
UPDATE subjects SET key_mac = (SELECT k.mac FROM subject_keys k WHERE k.subject_id = subjects.id);

CREATE TABLE subject_macs (
    subject_id BLOB NOT NULL,
    mac BLOB NOT NULL,
    PRIMARY KEY (subject_id, mac)
) WITHOUT ROWID;
INSERT INTO subject_macs (subject_id, mac) SELECT subject_id, mac FROM subject_index;

-- SQLite cannot drop a foreign key: the tables are rebuilt.
CREATE TABLE subject_keys_new (
    mac BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL
) WITHOUT ROWID;
INSERT INTO subject_keys_new (mac, subject_id) SELECT mac, subject_id FROM subject_keys;
DROP TABLE subject_keys;
ALTER TABLE subject_keys_new RENAME TO subject_keys;

CREATE TABLE subject_index_new (
    mac BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    PRIMARY KEY (mac, subject_id)
) WITHOUT ROWID;
INSERT INTO subject_index_new (mac, subject_id) SELECT mac, subject_id FROM subject_index;
DROP TABLE subject_index;
ALTER TABLE subject_index_new RENAME TO subject_index;

CREATE TABLE tokens_new (
    token TEXT PRIMARY KEY,
    -- The value this token stands for now (a rectified value moves its token along); NULL once
    -- the value is destroyed.
    value_mac BLOB,
    subject_id BLOB,
    shape TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- A tombstone: the values behind this token were destroyed (the token alone identifies nobody
    -- once the key is gone); a later detokenize answers `erased`, and the token is never issued
    -- again. A token whose subject is gone but not purged yet is treated the same way.
    erased_at INTEGER,
    CHECK ((erased_at IS NULL) = (subject_id IS NOT NULL AND value_mac IS NOT NULL))
) WITHOUT ROWID;
INSERT INTO tokens_new (token, value_mac, subject_id, shape, created_at, erased_at)
    SELECT token, value_mac, subject_id, shape, created_at, erased_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;

-- Subjects erased whose entries above are not purged yet, with what finds them once the subject
-- row and its values are gone: its key and its tokens (space-separated).
CREATE TABLE purge_pending (
    subject_id BLOB PRIMARY KEY,
    erased_at INTEGER NOT NULL,
    key_mac BLOB,
    tokens TEXT NOT NULL
) WITHOUT ROWID;
