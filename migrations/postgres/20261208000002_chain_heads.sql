-- The latest signed checkpoint of every audit chain (issue 28), kept beside the log so a new
-- chain can commit, in its first entry, to the heads of the chains it can see without scanning
-- the log: a chain dropped or cut later no longer matches what its successors recorded. Written
-- in the checkpoint's own transaction. Keep in step with migrations/sqlite.
CREATE TABLE chain_heads (
    writer TEXT PRIMARY KEY,
    -- The checkpoint entry's sequence number and hash.
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    at BIGINT NOT NULL
);
