-- Up Migration
-- Forward only, like 0001. Retention (aws/origin/audit/retention.ts) deletes old audit events, but the role the origin
-- runs as holds no DELETE on them (aws/origin/db/roles.ts): it calls these two functions instead, which run as their
-- owner (the schema owner, who ran this migration) and delete only events older than a minimum age kept in a table
-- only the owner can write. A compromised origin can then delete nothing that retention would not delete anyway.

-- The minimum age, in days, of an event that may be purged. One row. `node aws/origin/db/migrate-cli.ts` sets it from
-- AUDIT_RETENTION_DAYS (36500, nothing purgeable, when retention is unset); 1, the least `audit.retentionDays` allows,
-- until then (an origin that migrates at start runs as the owner, who could delete rows anyway).
CREATE TABLE audit_purge_policy (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  min_age_days integer NOT NULL CHECK (min_age_days BETWEEN 1 AND 36500),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_purge_policy (min_age_days) VALUES (1);

-- Records the runs of chain seqs that events older than `older_than` fill (what verify accepts as holes, 0009), and
-- returns how many runs it recorded. Refused when `older_than` is later than the minimum age allows: the bound is the
-- database's own clock less min_age_days, whatever the caller says. Ages count whole 24-hour days, as retention does.
CREATE FUNCTION audit_purge_record(older_than timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  floor_days integer;
  recorded integer;
BEGIN
  SELECT p.min_age_days INTO STRICT floor_days FROM public.audit_purge_policy p;
  IF older_than IS NULL OR older_than > now() - make_interval(hours => floor_days * 24) THEN
    RAISE EXCEPTION 'audit purge refused: cut-off % is less than % days ago (the minimum age of a purged audit event)',
      coalesce(older_than::text, 'NULL'), floor_days
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO public.audit_chain_purges (chain, from_seq, to_seq, cutoff)
  SELECT doomed.chain, min(doomed.seq), max(doomed.seq), older_than FROM (
    SELECT e.chain, e.seq, e.seq - row_number() OVER (PARTITION BY e.chain ORDER BY e.seq) AS run
    FROM public.audit_events e WHERE e.time < older_than AND e.chain IS NOT NULL) doomed
  GROUP BY doomed.chain, doomed.run;
  GET DIAGNOSTICS recorded = ROW_COUNT;
  RETURN recorded;
END $$;

-- Deletes at most `batch_rows` events older than `older_than` (same bound), of those a purge record covers (or outside
-- every chain), and returns how many it deleted. SKIP LOCKED: purges running at once take different rows.
CREATE FUNCTION audit_purge_delete(older_than timestamptz, batch_rows integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  floor_days integer;
  deleted integer;
BEGIN
  SELECT p.min_age_days INTO STRICT floor_days FROM public.audit_purge_policy p;
  IF older_than IS NULL OR older_than > now() - make_interval(hours => floor_days * 24) THEN
    RAISE EXCEPTION 'audit purge refused: cut-off % is less than % days ago (the minimum age of a purged audit event)',
      coalesce(older_than::text, 'NULL'), floor_days
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF batch_rows IS NULL OR batch_rows < 1 OR batch_rows > 100000 THEN
    RAISE EXCEPTION 'audit purge refused: a batch is 1 to 100000 rows, not %', coalesce(batch_rows::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM public.audit_events WHERE id IN (
    SELECT e.id FROM public.audit_events e WHERE e.time < older_than AND (e.chain IS NULL OR EXISTS (
      SELECT 1 FROM public.audit_chain_purges p WHERE p.chain = e.chain AND e.seq BETWEEN p.from_seq AND p.to_seq))
    LIMIT batch_rows FOR UPDATE OF e SKIP LOCKED);
  GET DIAGNOSTICS deleted = ROW_COUNT;
  RETURN deleted;
END $$;

-- Only the roles granted it (roles.ts) may call them; PUBLIC gets EXECUTE on every new function by default.
REVOKE ALL ON FUNCTION audit_purge_record(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_purge_delete(timestamptz, integer) FROM PUBLIC;
