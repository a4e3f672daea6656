-- Documents and findings are compressed with lz4 instead of the default pglz where this
-- Postgres was built with lz4 (Debian's is): pglz_compress was the largest single cost of a
-- save inside Postgres (profile of bench/load.sh). Rows already stored keep their compression;
-- both read back the same. Without lz4 nothing changes.
DO $$
BEGIN
    ALTER TABLE configuration_versions ALTER COLUMN document SET COMPRESSION lz4;
    ALTER TABLE configuration_versions ALTER COLUMN findings SET COMPRESSION lz4;
    ALTER TABLE template_versions ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this Postgres has no lz4: documents stay compressed with pglz';
END $$;
