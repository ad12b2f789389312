-- The vault, consent ledger and audit log (SQLite). Keep in step with migrations/postgres.
CREATE TABLE keyring (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kek_version INTEGER NOT NULL,
    wrapped_root BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE subjects (
    id BLOB PRIMARY KEY,
    wrapped_dek BLOB NOT NULL,
    kek_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Identifies a subject by the blind index of its route's subject field.
CREATE TABLE subject_keys (
    mac BLOB PRIMARY KEY,
    subject_id BLOB NOT NULL REFERENCES subjects(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX subject_keys_subject ON subject_keys(subject_id);

-- Finds subjects by any e-mail or phone they gave (a shared phone may find several).
CREATE TABLE subject_index (
    mac BLOB NOT NULL,
    subject_id BLOB NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    PRIMARY KEY (mac, subject_id)
) WITHOUT ROWID;
CREATE INDEX subject_index_subject ON subject_index(subject_id);

-- One token per (subject, kind of value, value); value_mac already includes the subject.
CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    value_mac BLOB NOT NULL UNIQUE,
    subject_id BLOB NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    shape TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_subject ON tokens(subject_id);

-- One row per collection of a value (append-only: the access report shows each source and time).
CREATE TABLE vault_values (
    id INTEGER PRIMARY KEY,
    subject_id BLOB NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    value_mac BLOB NOT NULL,
    token TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    category TEXT,
    field TEXT NOT NULL,
    purposes TEXT NOT NULL,
    route TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    collected_at INTEGER NOT NULL
);
CREATE INDEX vault_values_token ON vault_values(token);
CREATE INDEX vault_values_subject ON vault_values(subject_id);

-- Append-only; kept after erasure as proof of what was consented to (pseudonymous).
CREATE TABLE consent_records (
    seq INTEGER PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    subject_id BLOB NOT NULL,
    purpose TEXT NOT NULL,
    text_id TEXT NOT NULL,
    text_version INTEGER NOT NULL,
    text_sha256 TEXT NOT NULL,
    regimes TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    at INTEGER NOT NULL,
    ip_hash BLOB,
    ua_hash BLOB,
    origin TEXT,
    state TEXT NOT NULL,
    channel TEXT
);
CREATE INDEX consent_records_subject ON consent_records(subject_id, purpose);
CREATE INDEX consent_records_receipt ON consent_records(receipt_id);

CREATE TABLE route_counters (
    route TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (route, name)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    writer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (writer, seq)
) WITHOUT ROWID;
CREATE INDEX audit_log_at ON audit_log(at);
