-- Online KEK rotation (issue 28). Each key-encryption key that has wrapped anything gets a
-- version, known by a check value (HMAC-SHA-256 of a fixed label under the key: it names the key
-- and reveals nothing of it). Rows record the version that wraps them; a rotation rewraps the
-- root secret, then every data key and held key, and retires the older versions once nothing is
-- left under them. Keep in step with migrations/sqlite.
CREATE TABLE kek_versions (
    version BIGINT PRIMARY KEY,
    kek_check BYTEA NOT NULL UNIQUE,
    added_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- When the root secret was last rewrapped under a new KEK (NULL: never since it was created).
ALTER TABLE keyring ADD COLUMN rotated_at BIGINT;

-- Held keys were only ever wrapped under version 1 before this migration.
ALTER TABLE held_keys ADD COLUMN kek_version BIGINT NOT NULL DEFAULT 1;

-- A replica still running on a KEK older than the key ring's (not restarted before the rotation)
-- must not wrap new keys under it: they would be lost when that KEK is destroyed. Its intake
-- fails instead, and nothing is forwarded.
CREATE FUNCTION pdgate_kek_current() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kek_version < (SELECT kek_version FROM keyring WHERE id = 1) THEN
        RAISE EXCEPTION 'pdgate: kek_rotated: this process wraps keys under a KEK the key ring has rotated away from'
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subjects_kek_current BEFORE INSERT ON subjects
    FOR EACH ROW EXECUTE FUNCTION pdgate_kek_current();
CREATE TRIGGER held_keys_kek_current BEFORE INSERT ON held_keys
    FOR EACH ROW EXECUTE FUNCTION pdgate_kek_current();
