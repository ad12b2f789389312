-- Readiness (issue 22): a public fingerprint of the root secret (an HKDF output under its own
-- label, which reveals nothing of the secret), so a running replica notices when its database's key
-- ring is no longer the one it unlocked (a database restored or switched underneath it) and stops
-- writing. Filled by the first start of this version; a key rotation re-wraps the root secret but
-- keeps this value.
ALTER TABLE keyring ADD COLUMN root_id BYTEA;
