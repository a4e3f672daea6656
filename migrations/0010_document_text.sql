-- Configuration documents are stored as text, not json.
--
-- json kept the server's text as is (migration 0007) but still parsed every document to
-- check it: in a profile of bench/load.sh that parse (json_lex) was 3% of the whole machine's
-- CPU, all of it inside the single save writer's statement. The server writes only JSON it
-- printed itself, the text the audit event's document_sha256 covers, and `lockstep audit
-- verify` pins each stored document to that digest; the server parses what it reads.
--
-- save_batch (migration 0008) takes the documents as text[] now. An argument's type cannot be
-- altered, so the function is recreated from its own definition with that one type changed:
-- the rest of it stays exactly as 0008 wrote it.

ALTER TABLE configuration_versions ALTER COLUMN document TYPE text;

DO $$
BEGIN
    ALTER TABLE configuration_versions ALTER COLUMN document SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this Postgres has no lz4: documents stay compressed with pglz';
END $$;

DO $$
DECLARE
    defined text := pg_get_functiondef('save_batch'::regproc);
    changed text := replace(defined, 'save_document json[]', 'save_document text[]');
BEGIN
    IF changed = defined THEN
        RAISE EXCEPTION 'save_batch has no argument "save_document json[]" to change';
    END IF;
    DROP FUNCTION save_batch;
    EXECUTE changed;
END $$;
