-- A deployed pair can swap roles: after a failover to the secondary, re-protecting makes the
-- secondary's host run the primary and builds a fresh secondary on the primary's host. The
-- hosts themselves say which way round they run (the engine asks their COLO modes); the row
-- remembers it for the record and for when the hosts cannot be reached.

ALTER TABLE deployments ADD COLUMN roles_swapped BOOLEAN NOT NULL DEFAULT false;
