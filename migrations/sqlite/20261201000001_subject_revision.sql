-- A subject's revision. Keep in step with migrations/postgres.
--
-- An erasure is planned from what was read of a subject (its values, consents and activity) and
-- committed later, through the writer; an intake in between may add to the subject. Each intake
-- into an existing subject counts its revision up, and an erasure commits only if the revision is
-- still the one it was planned on, so a sweep or request never destroys data it has not seen (nor
-- leaves it out of the act and the webhooks).
ALTER TABLE subjects ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
