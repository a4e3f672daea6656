-- What each active configuration occupies on its hosts (ports, image files, domain names), so a
-- save checks collisions with an index lookup instead of reading every other document.
-- Rows are written by the server from `shared::validate::cross::claims` in the same
-- transaction as the version they describe, and rewritten only when they change:
-- `claims_digest` is the SHA-256 of the stored claims (NULL: not computed yet; the server fills
-- those in at start; a later migration that changes what is claimed sets it to NULL).

CREATE TABLE configuration_claims (
    configuration_id  BIGINT NOT NULL REFERENCES configurations(id),
    team_id           BIGINT NOT NULL REFERENCES teams(id),
    kind              TEXT NOT NULL CHECK (kind IN ('port', 'image', 'domain')),
    value             TEXT NOT NULL,
    host_name         TEXT NOT NULL,
    host_address      TEXT NOT NULL,
    field             TEXT NOT NULL
);
CREATE INDEX configuration_claims_lookup ON configuration_claims (team_id, kind, value);
CREATE INDEX configuration_claims_owner ON configuration_claims (configuration_id);

ALTER TABLE configurations ADD COLUMN claims_digest BYTEA;
