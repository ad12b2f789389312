-- New search-index entries and new tokens, appended at intake and folded into `subject_index`,
-- `subject_macs` and `tokens` in bulk off the commit path (issue 27): each random-key entry an
-- intake wrote dirtied a leaf page of its own in every commit's WAL frames, most of what a commit
-- wrote. Until folded, these rows are found by scanning them: the writer folds past a few thousand
-- rows, and every erasure, rectification, purge and per-intake retry folds first, in its own
-- transaction, so only searches, detokenize and the intake's token look-up read them.
CREATE TABLE index_pending (
    id INTEGER PRIMARY KEY,
    mac BLOB NOT NULL,
    subject_id BLOB NOT NULL
);
CREATE TABLE tokens_pending (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL,
    value_mac BLOB NOT NULL,
    subject_id BLOB NOT NULL,
    shape TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
