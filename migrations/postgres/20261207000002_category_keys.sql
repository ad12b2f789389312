-- Category keys (issue 25). Values are sealed under a key per category derived from the
-- subject's data key; an erasure under a legal hold keeps the held categories' keys, wrapped
-- on their own, and deletes the data key. Keep in step with migrations/postgres.

-- 1: the data key sealed data itself (subjects from before this migration, whose `pdg1.`
-- envelopes only it opens); 2: it only derives category keys.
ALTER TABLE subjects ADD COLUMN key_scheme BIGINT NOT NULL DEFAULT 1;

-- 1: sealed under the data key (subject, field, purposes bound); 2: under the category key
-- (category and collection time bound too).
ALTER TABLE vault_values ADD COLUMN sealing BIGINT NOT NULL DEFAULT 1;

CREATE TABLE held_keys (
    subject_id BYTEA NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    -- '' for identifiers found in free text (no declared category).
    category TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (subject_id, category)
);
