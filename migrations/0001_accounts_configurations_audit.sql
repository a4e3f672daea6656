-- Accounts, teams and roles; server-side sessions; API tokens; failed-login tracking;
-- configurations with immutable versions; the append-only, hash-chained audit log.

CREATE TABLE teams (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    team_id  BIGINT NOT NULL REFERENCES teams(id),
    user_id  BIGINT NOT NULL REFERENCES users(id),
    role     TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'deployer', 'admin')),
    PRIMARY KEY (team_id, user_id)
);

-- Only the SHA-256 of a session id is stored; the id itself lives in the browser's cookie.
CREATE TABLE sessions (
    id_hash     BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    team_id       BIGINT NOT NULL REFERENCES teams(id),
    name          TEXT NOT NULL,
    token_hash    BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);

CREATE TABLE failed_logins (
    id          BIGSERIAL PRIMARY KEY,
    user_name   TEXT NOT NULL,
    source      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX failed_logins_recent ON failed_logins (user_name, at);

CREATE TABLE configurations (
    id               BIGSERIAL PRIMARY KEY,
    team_id          BIGINT NOT NULL REFERENCES teams(id),
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    current_version  INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    archived_at      TIMESTAMPTZ,
    UNIQUE (team_id, name)
);

-- Versions are immutable: nothing updates or deletes them.
CREATE TABLE configuration_versions (
    configuration_id  BIGINT NOT NULL REFERENCES configurations(id),
    version           INTEGER NOT NULL CHECK (version >= 1),
    document          JSONB NOT NULL,
    findings          JSONB NOT NULL,
    errors            INTEGER NOT NULL,
    warnings          INTEGER NOT NULL,
    author_id         BIGINT NOT NULL REFERENCES users(id),
    author_name       TEXT NOT NULL,
    message           TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (configuration_id, version)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER configuration_versions_immutable
    BEFORE UPDATE OR DELETE ON configuration_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The audit log: each event stores the hash of the previous one (hash chain).
CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor_id     BIGINT,
    actor_name   TEXT NOT NULL,
    team_id      BIGINT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT,
    target_name  TEXT,
    before       JSONB,
    after        JSONB,
    request_id   TEXT,
    source       TEXT,
    user_agent   TEXT,
    result       TEXT NOT NULL,
    prev_hash    BYTEA NOT NULL,
    hash         BYTEA NOT NULL UNIQUE
);
CREATE INDEX audit_events_team ON audit_events (team_id, id);

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
