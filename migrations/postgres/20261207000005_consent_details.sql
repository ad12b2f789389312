-- What a consent record keeps beside the grant (JSON): the parent or guardian who consented for
-- a minor (GDPR Art. 8; 152-FZ with Civil Code Art. 26, 28), the conditions and bans of a consent
-- to distribution (152-FZ Art. 10.1(9)). NULL for a plain grant. Keep in step with the other backend.
ALTER TABLE consent_records ADD COLUMN details TEXT;
