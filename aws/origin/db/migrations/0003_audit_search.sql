-- Up Migration
-- Forward only, like 0001. The indexes audit search (aws/origin/audit/search.ts) and retention need; (user_sub, time)
-- and (server, time) exist since 0001. Built in the migration's transaction, so on a large table audit ingest waits
-- while they build (the edge's queue retries); create them CONCURRENTLY by hand beforehand (same names) to avoid that.

-- Every search reads newest first by (time, id), and pages on from a (time, id) cursor. It also serves time ranges and
-- the retention job's `time < cutoff`, so it replaces the plain time index.
CREATE INDEX IF NOT EXISTS audit_events_time_id_idx ON audit_events (time DESC, id DESC);
DROP INDEX IF EXISTS audit_events_time_idx;

-- A user is searched by subject or by e-mail.
CREATE INDEX IF NOT EXISTS audit_events_user_email_time_idx ON audit_events (user_email, time);

-- A tool exactly, or by prefix (`github_*`): text_pattern_ops lets LIKE 'prefix%' use the index whatever the collation.
CREATE INDEX IF NOT EXISTS audit_events_tool_time_idx ON audit_events (tool text_pattern_ops, time);
