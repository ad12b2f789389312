-- The search index's new entries, appended at intake and folded into `subject_index` and
-- `subject_macs` in bulk off the commit path (issue 27): each random-key entry written at intake
-- dirtied a leaf page of its own in every commit's WAL frames. Until folded, the rows here are
-- searched by scanning this table (it is kept small: the writer folds it past a few thousand rows,
-- and every erasure, rectification and purge folds it first, in its own transaction).
CREATE TABLE index_pending (
    id INTEGER PRIMARY KEY,
    mac BLOB NOT NULL,
    subject_id BLOB NOT NULL
);
