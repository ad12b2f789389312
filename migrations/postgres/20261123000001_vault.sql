-- The vault, consent ledger and audit log (PostgreSQL). Keep in step with migrations/sqlite.
CREATE TABLE keyring (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    kek_version BIGINT NOT NULL,
    wrapped_root BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE subjects (
    id BYTEA PRIMARY KEY,
    wrapped_dek BYTEA NOT NULL,
    kek_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL
);

-- Identifies a subject by the blind index of its route's subject field.
CREATE TABLE subject_keys (
    mac BYTEA PRIMARY KEY,
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE
);
CREATE INDEX subject_keys_subject ON subject_keys(subject_id);

-- Finds subjects by any e-mail or phone they gave (a shared phone may find several).
CREATE TABLE subject_index (
    mac BYTEA NOT NULL,
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    PRIMARY KEY (mac, subject_id)
);
CREATE INDEX subject_index_subject ON subject_index(subject_id);

-- One token per (subject, kind of value, value); value_mac already includes the subject.
CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    value_mac BYTEA NOT NULL UNIQUE,
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    shape TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_subject ON tokens(subject_id);

-- One row per collection of a value (append-only: the access report shows each source and time).
CREATE TABLE vault_values (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    value_mac BYTEA NOT NULL,
    token TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    category TEXT,
    field TEXT NOT NULL,
    purposes TEXT NOT NULL,
    route TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    collected_at BIGINT NOT NULL
);
CREATE INDEX vault_values_token ON vault_values(token);
CREATE INDEX vault_values_subject ON vault_values(subject_id);

-- Append-only; kept after erasure as proof of what was consented to (pseudonymous).
CREATE TABLE consent_records (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    subject_id BYTEA NOT NULL,
    purpose TEXT NOT NULL,
    text_id TEXT NOT NULL,
    text_version BIGINT NOT NULL,
    text_sha256 TEXT NOT NULL,
    regimes TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    at BIGINT NOT NULL,
    ip_hash BYTEA,
    ua_hash BYTEA,
    origin TEXT,
    state TEXT NOT NULL,
    channel TEXT
);
CREATE INDEX consent_records_subject ON consent_records(subject_id, purpose);
CREATE INDEX consent_records_receipt ON consent_records(receipt_id);

CREATE TABLE route_counters (
    route TEXT NOT NULL,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (route, name)
);

CREATE TABLE audit_log (
    writer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (writer, seq)
);
CREATE INDEX audit_log_at ON audit_log(at);
