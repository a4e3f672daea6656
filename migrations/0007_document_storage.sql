-- How configuration documents are stored.
--
-- As type json, not jsonb: the server stores the JSON text it wrote (the text the audit event's
-- document_sha256 covers), and json keeps that text as is, while jsonb parsed it
-- into its binary form on every save and printed it again on every read (jsonb parsing was the
-- largest single cost of a save inside Postgres, in a profile of bench/load.sh). Lockstep never
-- queries inside documents. Rows stored before keep their content in jsonb's text form; their
-- events hold the digest of the canonical form, which `audit verify` accepts for them.
--
-- Compressed with lz4 instead of the default pglz where this Postgres was built with lz4
-- (Debian's is): pglz_compress came next in that profile. Without lz4 nothing changes.

ALTER TABLE configuration_versions ALTER COLUMN document TYPE json USING document::json;

DO $$
BEGIN
    ALTER TABLE configuration_versions ALTER COLUMN document SET COMPRESSION lz4;
    ALTER TABLE configuration_versions ALTER COLUMN findings SET COMPRESSION lz4;
    ALTER TABLE template_versions ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this Postgres has no lz4: documents stay compressed with pglz';
END $$;
