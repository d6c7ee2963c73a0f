-- Pinned definitions ("rug pull" protection, docs/pinning.md): each upstream tool, prompt, resource template and
-- discovery result the origin has seen, by fingerprint. One row per (server, kind, name, fingerprint): the approved
-- one is what clients may see and call; a pending one waits for an administrator.
CREATE TABLE pinned_definitions (
  server text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('tool', 'prompt', 'resource_template', 'discovery')),
  name text NOT NULL,
  fingerprint text NOT NULL,
  definition jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('approved', 'pending', 'superseded', 'rejected')),
  first_seen timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz,
  decided_by text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (server, kind, name, fingerprint)
);

-- At most one approved definition per name: approving a change supersedes the previous one in the same statement.
CREATE UNIQUE INDEX pinned_definitions_one_approved ON pinned_definitions (server, kind, name) WHERE status = 'approved';
-- Instances poll for what changed since their last look.
CREATE INDEX pinned_definitions_updated ON pinned_definitions (updated_at);
