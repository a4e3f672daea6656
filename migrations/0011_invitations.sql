-- Joining a team takes the user's consent: an admin invites a user by name, and the user
-- accepts (or declines) the invitation. An invitation for a name with no account yet waits
-- for that account, so inviting says nothing about which user names exist.

CREATE TABLE team_invitations (
    team_id     BIGINT NOT NULL REFERENCES teams(id),
    user_name   TEXT NOT NULL CHECK (length(user_name) BETWEEN 1 AND 64),
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'deployer', 'admin')),
    invited_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_name)
);
CREATE INDEX team_invitations_user ON team_invitations (user_name);

-- Answers that tell whether a name is taken (creating a team under a taken name) are rate
-- limited per user like failed logins.
CREATE TABLE name_probes (
    id       BIGSERIAL PRIMARY KEY,
    user_id  BIGINT NOT NULL REFERENCES users(id),
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX name_probes_recent ON name_probes (user_id, at);
