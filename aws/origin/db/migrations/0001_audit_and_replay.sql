-- Up Migration
-- Forward only: there is no down migration, so that no command can drop the audit trail.

-- One row per audit event from the edge (contract/audit-event.ts). The edge's event id is the
-- primary key: a redelivered queue batch inserts nothing twice.
CREATE TABLE audit_events (
  id uuid PRIMARY KEY,
  time timestamptz NOT NULL,
  kind text NOT NULL,
  user_sub text,
  user_email text,
  client_id text,
  server text,
  method text,
  tool text,
  outcome text NOT NULL,
  error_code int,
  http_status int,
  latency_ms double precision NOT NULL,
  request_bytes int,
  response_bytes int,
  protocol_version text,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_time_idx ON audit_events (time);
CREATE INDEX audit_events_user_sub_time_idx ON audit_events (user_sub, time);
CREATE INDEX audit_events_server_time_idx ON audit_events (server, time);

-- Edge-assertion ids already accepted, kept until the assertion has expired: the replay guard.
CREATE TABLE assertion_jtis (
  jti text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX assertion_jtis_expires_at_idx ON assertion_jtis (expires_at);
