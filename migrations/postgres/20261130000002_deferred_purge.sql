-- Erased subjects' random-key entries purged in key order (PostgreSQL). Keep in step with migrations/sqlite.
--
-- The sweeper deletes a subject (its wrapped key, values and consent records), lists it in
-- `purge_pending`, and once the sweep's pages are done a purge walks the key, search-index and
-- token tables in key order (on SQLite; see `Store::defers_purge`); `subjects.key_mac` and
-- `subject_macs` find a listed subject's entries. Until the purge a leftover entry points at no subject and
-- every reader treats it as gone, so the entries no longer cascade from `subjects`. See
-- BENCHMARKS.md, "Purging in key order".
ALTER TABLE subjects ADD COLUMN key_mac BYTEA;
UPDATE subjects SET key_mac = k.mac FROM subject_keys k WHERE k.subject_id = subjects.id;

CREATE TABLE subject_macs (
    subject_id BYTEA NOT NULL,
    mac BYTEA NOT NULL,
    PRIMARY KEY (subject_id, mac)
);
INSERT INTO subject_macs (subject_id, mac) SELECT subject_id, mac FROM subject_index;

ALTER TABLE subject_keys DROP CONSTRAINT subject_keys_subject_id_fkey;
ALTER TABLE subject_index DROP CONSTRAINT subject_index_subject_id_fkey;
ALTER TABLE tokens DROP CONSTRAINT tokens_subject_id_fkey;
-- The indexes by subject stay here: PostgreSQL erases subject by subject (its heap lies in subject
-- order and index entries wait for vacuum), and finds the entries through them.

-- Subjects erased whose entries above are not purged yet, with what finds them once the subject
-- row and its values are gone: its key and its tokens (space-separated).
CREATE TABLE purge_pending (
    subject_id BYTEA PRIMARY KEY,
    erased_at BIGINT NOT NULL,
    key_mac BYTEA,
    tokens TEXT NOT NULL
);
