-- A sweep is listed while it runs: its row is written at the start and brought up to date by each
-- of its transactions ('running'), closed at the end ('finished'); one a stopped process left
-- running is marked 'interrupted' by the next sweep.
ALTER TABLE sweeps ADD COLUMN status TEXT NOT NULL DEFAULT 'finished';
