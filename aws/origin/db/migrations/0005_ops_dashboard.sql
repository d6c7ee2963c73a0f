-- Up Migration
-- Forward only, like 0001. The ops dashboard (aws/origin/ops/stats.ts) reads one kind of event over a time window
-- (MCP calls, or the auth and rate-limit events): an index on (kind, time) keeps a 7-day window from reading every
-- other kind too. Built in the migration's transaction like 0003; create it CONCURRENTLY by hand beforehand (same
-- name) on a large table.
CREATE INDEX IF NOT EXISTS audit_events_kind_time_idx ON audit_events (kind, time);
