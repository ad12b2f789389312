-- Data subject requests, the erasure outbox, destruction acts and legal holds (SQLite).
-- Keep in step with migrations/postgres.

-- A subject whose erasure left held categories: those values stay (restricted) until this time,
-- then the retention sweeper shreds the rest.
ALTER TABLE subjects ADD COLUMN erase_after INTEGER;
CREATE INDEX subjects_erase_after ON subjects(erase_after) WHERE erase_after IS NOT NULL;

CREATE TABLE dsr_requests (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    regime TEXT NOT NULL,
    -- Blind index of the identifier the subject gave: finds the subject and repeated requests.
    lookup_mac BLOB NOT NULL,
    lookup_kind TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    original_due_at INTEGER NOT NULL,
    extension_reason TEXT,
    extended_at INTEGER,
    fulfilled_at INTEGER,
    repeat_of TEXT,
    note TEXT,
    created_by TEXT NOT NULL,
    fulfilled_by TEXT,
    -- What fulfilment did, as JSON (counts, held categories, purposes ended): never values.
    result TEXT
) WITHOUT ROWID;
CREATE INDEX dsr_requests_status ON dsr_requests(status, due_at);
CREATE INDEX dsr_requests_lookup ON dsr_requests(lookup_mac, received_at);

-- Webhooks to deliver (erasure, rectification), durable across restarts; retried with backoff
-- until the upstream answers 2xx.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT,
    upstream TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at INTEGER,
    last_status INTEGER,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_request ON outbox(request_id);

-- Destruction acts (Roskomnadzor order No. 179): the act and its log extract, kept 3 years.
CREATE TABLE destruction_acts (
    id TEXT PRIMARY KEY,
    request_id TEXT,
    subject_id BLOB NOT NULL,
    at INTEGER NOT NULL,
    keep_until INTEGER NOT NULL,
    act TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX destruction_acts_request ON destruction_acts(request_id);
CREATE INDEX destruction_acts_keep ON destruction_acts(keep_until);

-- Retention sweeps, for the register and `retention run`.
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    subjects_erased INTEGER NOT NULL,
    values_erased INTEGER NOT NULL,
    subjects_restricted INTEGER NOT NULL,
    acts_expired INTEGER NOT NULL
) WITHOUT ROWID;
