-- Up Migration
-- Forward only, like 0001. Retention deleted old events but kept every checkpoint that had signed them: about 2,300 a
-- day from the 8 chains' 5-minute checkpoints alone, never deleted, all read by `verify`. A checkpoint whose row was
-- purged vouches for nothing (verify skips it already), so the purge now deletes it with its row: one in a run a purge
-- recorded (audit_chain_purges) whose row is gone. Both are only what this function's owner could purge before (rows
-- older than the minimum age), so a compromised origin calling it can delete no checkpoint of a row it could not.
-- Same signature as 0011's: an origin of the previous release calls it unchanged during a rolling update.
CREATE OR REPLACE FUNCTION audit_purge_delete(older_than timestamptz, batch_rows integer) RETURNS integer
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
  DELETE FROM public.audit_checkpoints WHERE (chain, seq) IN (
    SELECT c.chain, c.seq FROM public.audit_checkpoints c
    WHERE EXISTS (
        SELECT 1 FROM public.audit_chain_purges p WHERE p.chain = c.chain AND c.seq BETWEEN p.from_seq AND p.to_seq)
      AND NOT EXISTS (SELECT 1 FROM public.audit_events e WHERE e.chain = c.chain AND e.seq = c.seq)
    LIMIT batch_rows FOR UPDATE OF c SKIP LOCKED);
  RETURN deleted;
END $$;

REVOKE ALL ON FUNCTION audit_purge_delete(timestamptz, integer) FROM PUBLIC;
