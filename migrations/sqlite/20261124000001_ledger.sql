-- Restriction (GDPR Art. 18) and erasure tombstones (SQLite). Keep in step with migrations/postgres.
ALTER TABLE subjects ADD COLUMN restricted_at INTEGER;

-- A crypto-shredded subject: only its pseudonymous id and when, so a later detokenize of one of its
-- envelopes answers `erased` instead of `unknown_token`.
CREATE TABLE erased_subjects (
    id BLOB PRIMARY KEY,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Tokens whose values were destroyed (the token alone identifies nobody once the key is gone).
CREATE TABLE erased_tokens (
    token TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Every consent text version ever shown, byte for byte: receipts point here, and a text edited
-- without a new version is refused at start.
CREATE TABLE consent_texts (
    text_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (text_id, version)
) WITHOUT ROWID;
