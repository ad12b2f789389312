-- Self-service links (issue 21): minted by the operator for a subject it found by e-mail or phone,
-- for the CRM to put into its messages. The row is the link's state (its id is the token's `jti`);
-- the token itself is never stored. Erasing the subject deletes its links.
CREATE TABLE subject_links (
    id TEXT PRIMARY KEY,
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT
);
CREATE INDEX subject_links_subject ON subject_links(subject_id);
