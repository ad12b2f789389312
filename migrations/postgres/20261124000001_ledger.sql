-- Restriction (GDPR Art. 18) and erasure tombstones (PostgreSQL). Keep in step with migrations/sqlite.
ALTER TABLE subjects ADD COLUMN restricted_at BIGINT;

-- A crypto-shredded subject: only its pseudonymous id and when, so a later detokenize of one of its
-- envelopes answers `erased` instead of `unknown_token`.
CREATE TABLE erased_subjects (
    id BYTEA PRIMARY KEY,
    erased_at BIGINT NOT NULL
);

-- Tokens whose values were destroyed (the token alone identifies nobody once the key is gone).
CREATE TABLE erased_tokens (
    token TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL
);

-- Every consent text version ever shown, byte for byte: receipts point here, and a text edited
-- without a new version is refused at start.
CREATE TABLE consent_texts (
    text_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (text_id, version)
);

-- The newest consent record per (subject, purpose) in one index seek (detokenize asks for it per
-- value). SQLite's (subject_id, purpose) index already ends in the rowid, which is seq.
DROP INDEX consent_records_subject;
CREATE INDEX consent_records_latest ON consent_records(subject_id, purpose, seq);
