-- When Roskomnadzor received a cross-border notification (152-FZ Art. 12): the 10 working days
-- before transfers to a non-adequate country run from it. NULL: not known yet, assumed from the
-- filing date plus `[transfers] delivery_days`. Keep in step with the other backend.
ALTER TABLE transfer_notifications ADD COLUMN received_at BIGINT;
