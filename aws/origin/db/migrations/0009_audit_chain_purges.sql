-- Up Migration
-- Forward only, like 0001. Retention deletes audit events by time (docs/audit.md), which leaves holes in the hash
-- chains of 0007 wherever an old event sat among newer ones. Each purge first records the runs of seqs it is about to
-- delete, per chain; verify accepts a hole only where such a record covers it. This replaces 0007's chain floors.
CREATE TABLE audit_chain_purges (
  chain int NOT NULL,
  from_seq bigint NOT NULL,
  to_seq bigint NOT NULL,
  -- The retention cut-off the rows were older than, and when the purge ran: for the investigator reading a hole.
  cutoff timestamptz NOT NULL,
  purged_at timestamptz NOT NULL DEFAULT now(),
  CHECK (from_seq <= to_seq)
);
CREATE INDEX audit_chain_purges_chain_idx ON audit_chain_purges (chain, from_seq);

ALTER TABLE audit_chains DROP COLUMN floor_seq;
ALTER TABLE audit_chains DROP COLUMN floor_hash;
