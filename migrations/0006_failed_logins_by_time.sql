-- The rate limit counts recent failed logins per source address too, and the server prunes
-- old ones: both look them up by time.
CREATE INDEX failed_logins_at ON failed_logins (at);
