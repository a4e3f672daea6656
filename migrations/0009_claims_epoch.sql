-- A team's claims epoch counts the changes of its configurations' host claims. Servers keep
-- each team's claims in memory (backend/src/db/claims.rs) and read the epoch with the
-- configuration a save edits: the same epoch means the claims they hold are current, so a
-- save's cross-configuration check needs no index probe per claim.
--
-- Triggers bump it in the transaction that changes the claims, whoever changes them (a save,
-- a new configuration, an archive, or SQL by hand).

ALTER TABLE teams ADD COLUMN claims_epoch bigint NOT NULL DEFAULT 0;

CREATE FUNCTION bump_claims_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE teams SET claims_epoch = claims_epoch + 1
    WHERE id IN (SELECT team_id FROM changed);
    RETURN NULL;
END;
$$;

CREATE FUNCTION bump_claims_epoch_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE teams SET claims_epoch = claims_epoch + 1
    WHERE id IN (SELECT team_id FROM before UNION SELECT team_id FROM after);
    RETURN NULL;
END;
$$;

CREATE TRIGGER claims_inserted AFTER INSERT ON configuration_claims
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_claims_epoch();
CREATE TRIGGER claims_deleted AFTER DELETE ON configuration_claims
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_claims_epoch();
CREATE TRIGGER claims_updated AFTER UPDATE ON configuration_claims
    REFERENCING OLD TABLE AS before NEW TABLE AS after
    FOR EACH STATEMENT EXECUTE FUNCTION bump_claims_epoch_on_update();

CREATE FUNCTION bump_all_claims_epochs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE teams SET claims_epoch = claims_epoch + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER claims_truncated AFTER TRUNCATE ON configuration_claims
    FOR EACH STATEMENT EXECUTE FUNCTION bump_all_claims_epochs();
