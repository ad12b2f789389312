-- The notice that tells the subject of an extension and its reasons (GDPR Art. 12(3); 152-FZ
-- Art. 20(1), 21(5.1)): when the DPO recorded it sent, and who. Keep in step with the other backend.
ALTER TABLE dsr_requests ADD COLUMN extension_notice_sent_at INTEGER;
ALTER TABLE dsr_requests ADD COLUMN extension_notice_sent_by TEXT;
