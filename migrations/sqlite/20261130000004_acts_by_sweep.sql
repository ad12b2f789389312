-- Destruction acts found by retention sweep. Keep in step with migrations/postgres.
--
-- A sweep slice's erasures now share one act that lists its subjects (order No. 179 allows
-- several subjects per act), so an act has no one subject: `subject_id` goes (nothing read it).
-- Acts of sweeps were readable only with database access; `sweep_id` lets the admin API page
-- through them. Earlier sweep acts name their sweep in `reference` ("sweep:<id>").
ALTER TABLE destruction_acts DROP COLUMN subject_id;
ALTER TABLE destruction_acts ADD COLUMN sweep_id TEXT;
UPDATE destruction_acts SET sweep_id = substr(json_extract(act, '$.reference'), 7)
    WHERE request_id IS NULL AND json_extract(act, '$.reference') LIKE 'sweep:%';
CREATE INDEX destruction_acts_sweep ON destruction_acts(sweep_id, id);
