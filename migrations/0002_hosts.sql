-- Hosts registered per team: what configurations reference and, later, where they deploy.

CREATE TABLE hosts (
    id           BIGSERIAL PRIMARY KEY,
    team_id      BIGINT NOT NULL REFERENCES teams(id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    libvirt_uri  TEXT NOT NULL,
    address      TEXT NOT NULL,
    notes        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);
