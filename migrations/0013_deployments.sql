-- Deployments of configuration versions to two registered hosts, and every step they ran.
--
-- A deployment is a job: created `queued`, claimed by one server (`FOR UPDATE SKIP LOCKED`),
-- `running` while that server carries out the plan (it refreshes `heartbeat_at`), then
-- `protected` or `failed`. A deployed pair stays the configuration's active deployment through
-- failovers (`failed-over`) until it is torn down. At most one active deployment per
-- configuration: the partial unique index refuses a second one, whichever server asks.

CREATE TABLE deployments (
    id                 BIGSERIAL PRIMARY KEY,
    team_id            BIGINT NOT NULL REFERENCES teams(id),
    configuration_id   BIGINT NOT NULL REFERENCES configurations(id),
    version            INT NOT NULL,
    primary_host_id    BIGINT REFERENCES hosts(id) ON DELETE SET NULL,
    secondary_host_id  BIGINT REFERENCES hosts(id) ON DELETE SET NULL,
    -- The URIs as they were when the deployment was made (a host may change later).
    primary_uri        TEXT NOT NULL,
    secondary_uri      TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN
                         ('queued', 'running', 'protected', 'failed-over', 'failed', 'torn-down')),
    -- Which side runs the guest once failed over.
    active_side        TEXT CHECK (active_side IN ('primary', 'secondary')),
    error              TEXT,
    created_by         BIGINT REFERENCES users(id),
    created_by_name    TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_by         TEXT,
    heartbeat_at       TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    FOREIGN KEY (configuration_id, version)
        REFERENCES configuration_versions (configuration_id, version)
);

CREATE UNIQUE INDEX deployments_one_active ON deployments (configuration_id)
    WHERE state IN ('queued', 'running', 'protected', 'failed-over');
CREATE INDEX deployments_queued ON deployments (id) WHERE state = 'queued';
CREATE INDEX deployments_by_configuration ON deployments (configuration_id, id DESC);

CREATE TABLE deployment_steps (
    deployment_id  BIGINT NOT NULL REFERENCES deployments(id),
    seq            INT NOT NULL,
    -- What ran it: the deploy, or an action (failover-to-secondary, teardown, ...).
    run            TEXT NOT NULL,
    n              INT NOT NULL,
    phase          TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('primary', 'secondary')),
    host           TEXT NOT NULL,
    command        TEXT NOT NULL,
    reply          TEXT NOT NULL,
    micros         BIGINT NOT NULL,
    error          TEXT,
    skipped        BOOLEAN NOT NULL,
    at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, seq)
);
