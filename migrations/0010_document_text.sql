-- Configuration documents are stored as text, not json.
--
-- json kept the server's text as is (migration 0007) but still parsed every document to
-- check it: in a profile of bench/load.sh that parse (json_lex) was 3% of the whole machine's
-- CPU, all of it inside the single save writer's statement. The server writes only JSON it
-- printed itself, the text the audit event's document_sha256 covers, and `lockstep audit
-- verify` pins each stored document to that digest; readers parse what they read
-- (`document::json` in SQL, or serde in the server).
--
-- save_batch (migration 0008) takes the documents as text[] now: the same function
-- otherwise, recreated because an argument's type changes.

ALTER TABLE configuration_versions ALTER COLUMN document TYPE text;

DO $$
BEGIN
    ALTER TABLE configuration_versions ALTER COLUMN document SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this Postgres has no lz4: documents stay compressed with pglz';
END $$;

DROP FUNCTION save_batch;

CREATE FUNCTION save_batch(
    save_id bigint[], save_base int[], save_digest bytea[],
    save_document text[], save_findings jsonb[], save_errors int[], save_warnings int[],
    save_author_id bigint[], save_author_name text[], save_message text[],
    save_created_at timestamptz[],
    claim_owner bigint[], claim_kind text[], claim_value text[], claim_host_name text[],
    claim_host_address text[], claim_field text[],
    ev_at timestamptz[], ev_actor_id bigint[], ev_actor_name text[], ev_team_id bigint[],
    ev_action text[], ev_target_type text[], ev_target_id text[], ev_target_name text[],
    ev_before jsonb[], ev_after jsonb[], ev_request_id text[], ev_source text[],
    ev_user_agent text[], ev_result text[], ev_canonical text[]
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    saved bigint[];
    prev_hash_v bytea;
    hash_v bytea;
    event_id bigint;
    chained int[] := '{}';
    prev_hashes bytea[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    WITH s AS (SELECT * FROM unnest(save_id, save_base, save_digest) AS s(id, base, digest)),
    advanced AS (
        UPDATE configurations c SET current_version = s.base + 1,
            claims_digest = coalesce(s.digest, c.claims_digest)
        FROM s WHERE c.id = s.id AND c.current_version = s.base AND c.archived_at IS NULL
        RETURNING c.id)
    SELECT coalesce(array_agg(id), '{}') INTO saved FROM advanced;
    IF cardinality(saved) = 0 THEN
        RETURN saved;
    END IF;

    INSERT INTO configuration_versions (configuration_id, version, document, findings, errors,
        warnings, author_id, author_name, message, created_at)
    SELECT v.id, v.base + 1, v.document, v.findings, v.errors, v.warnings, v.author_id,
        v.author_name, v.message, v.created_at
    FROM unnest(save_id, save_base, save_document, save_findings, save_errors, save_warnings,
        save_author_id, save_author_name, save_message, save_created_at)
        AS v(id, base, document, findings, errors, warnings, author_id, author_name, message,
        created_at)
    WHERE v.id = ANY(saved);

    -- Claims only where they changed (most saves change no port, file or name).
    IF EXISTS (SELECT 1 FROM unnest(save_digest) AS d WHERE d IS NOT NULL) THEN
        DELETE FROM configuration_claims WHERE configuration_id IN (
            SELECT s.id FROM unnest(save_id, save_digest) AS s(id, digest)
            WHERE s.digest IS NOT NULL AND s.id = ANY(saved));
        INSERT INTO configuration_claims (configuration_id, team_id, kind, value, host_name,
            host_address, field)
        SELECT k.owner, c.team_id, k.kind, k.value, k.host_name, k.host_address, k.field
        FROM unnest(claim_owner, claim_kind, claim_value, claim_host_name, claim_host_address,
            claim_field) AS k(owner, kind, value, host_name, host_address, field)
        JOIN configurations c ON c.id = k.owner
        WHERE k.owner = ANY(saved);
    END IF;

    -- The events, chained in queue order after the head; their ids are taken in that order
    -- too (volatile functions run after the sort).
    SELECT last_hash INTO hash_v FROM audit_head WHERE id = 1 FOR UPDATE;
    FOR i IN 1 .. cardinality(save_id) LOOP
        CONTINUE WHEN NOT save_id[i] = ANY(saved);
        prev_hash_v := hash_v;
        hash_v := sha256(prev_hash_v || convert_to(ev_canonical[i], 'UTF8'));
        chained := chained || i;
        prev_hashes := prev_hashes || prev_hash_v;
        hashes := hashes || hash_v;
    END LOOP;
    WITH ev AS (
        INSERT INTO audit_events (id, at, actor_id, actor_name, team_id, action, target_type,
            target_id, target_name, before, after, request_id, source, user_agent, result,
            prev_hash, hash)
        SELECT nextval('audit_events_id_seq'), ev_at[c.i], ev_actor_id[c.i],
            ev_actor_name[c.i], ev_team_id[c.i], ev_action[c.i], ev_target_type[c.i],
            ev_target_id[c.i], ev_target_name[c.i], ev_before[c.i], ev_after[c.i],
            ev_request_id[c.i], ev_source[c.i], ev_user_agent[c.i], ev_result[c.i], c.prev,
            c.hash
        FROM unnest(chained, prev_hashes, hashes) WITH ORDINALITY AS c(i, prev, hash, n)
        ORDER BY c.n
        RETURNING id)
    SELECT max(id) INTO event_id FROM ev;
    UPDATE audit_head SET prev = prev_hash_v, last_hash = hash_v, last_id = event_id WHERE id = 1;
    RETURN saved;
END;
$$;
