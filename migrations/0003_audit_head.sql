-- The head of the audit chain in one row. Appending an event updates this row and inserts the
-- event in one statement: the row lock orders appenders, and Postgres re-reads the newest head
-- after the wait, so the chain never forks and the lock is held only until commit.

CREATE TABLE audit_head (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    prev       BYTEA NOT NULL,
    last_hash  BYTEA NOT NULL,
    last_id    BIGINT
);

INSERT INTO audit_head (id, prev, last_hash, last_id)
SELECT 1, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
       coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1),
                '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
       (SELECT max(id) FROM audit_events);

CREATE TRIGGER audit_head_no_delete
    BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
