-- Readiness (issue 22): a row the writer rewrites to learn whether writes commit again after a
-- failure (a full disk, a read-only database). Holds nothing but a time and padding.
CREATE TABLE writer_probe (
    at INTEGER NOT NULL,
    pad BLOB NOT NULL
);
