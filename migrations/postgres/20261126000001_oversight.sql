-- The DPO's oversight records (issue 5, PostgreSQL; keep in step with migrations/sqlite):
-- breaches with their notice clocks, Art. 12 152-FZ cross-border notifications, and flows found
-- by discovery. None of them holds personal data.

CREATE TABLE breaches (
    id TEXT PRIMARY KEY,
    detected_at BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    opened_by TEXT NOT NULL,
    state TEXT NOT NULL,
    -- The incident as the DPO describes it and the figures computed at opening, as JSON.
    body TEXT NOT NULL,
    -- Every state change: [{state, at, by, note}], as JSON.
    history TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX breaches_state ON breaches(state, detected_at);

CREATE TABLE transfer_notifications (
    id TEXT PRIMARY KEY,
    country TEXT NOT NULL,
    purpose TEXT NOT NULL,
    filed_at BIGINT NOT NULL,
    reference TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX transfer_notifications_country ON transfer_notifications(country, purpose);

CREATE TABLE discovered_flows (
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    -- Detected kinds, comma-separated and sorted (email,phone,…): never values.
    kinds TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (method, path)
);
