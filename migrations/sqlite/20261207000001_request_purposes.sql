-- The purposes an objection or a consent withdrawal named when it was registered (a JSON array);
-- its fulfilment ends those unless the DPO names others.
ALTER TABLE dsr_requests ADD COLUMN purposes TEXT;
