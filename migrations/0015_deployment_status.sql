-- When a deployed pair's protection status last changed, as the servers saw it: each status
-- read stores its summary ("Protected", "Not protected: lost connection", ...) and, when that
-- differs from the stored one, the time.

ALTER TABLE deployments
    ADD COLUMN status_summary    TEXT,
    ADD COLUMN status_changed_at TIMESTAMPTZ;
