-- Up Migration
-- Forward only, like 0001. The tamper-evident audit (docs/audit.md): every row stored from now on is a link of a
-- hash chain, and the chains' heads are signed now and then. Rows stored before this migration keep NULL chain,
-- seq and hash: they are outside every chain and nothing vouches for them.

-- The tool or prompt arguments of an MCP request, redacted at the edge, as canonical JSON text (sorted keys). Text
-- rather than jsonb so that what is hashed is exactly what is stored (jsonb would reorder and renormalize it).
ALTER TABLE audit_events ADD COLUMN arguments text;

-- The row's place in its chain and its link: hash = SHA-256(canonical content ‖ prev_hash), where prev_hash is
-- the hash of the row before it in the chain (32 zero bytes for the first).
ALTER TABLE audit_events ADD COLUMN chain int;
ALTER TABLE audit_events ADD COLUMN seq bigint;
ALTER TABLE audit_events ADD COLUMN prev_hash bytea;
ALTER TABLE audit_events ADD COLUMN hash bytea;
CREATE UNIQUE INDEX audit_events_chain_seq_idx ON audit_events (chain, seq);

-- One row per chain: its head (the last seq and hash written), locked FOR UPDATE by each insert so that two origin
-- instances never extend one chain at once; and its floor, the last seq retention deleted (rows up to it are gone
-- on purpose, and the first row kept links to floor_hash).
CREATE TABLE audit_chains (
  chain int PRIMARY KEY,
  seq bigint NOT NULL DEFAULT 0,
  hash bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
  floor_seq bigint NOT NULL DEFAULT 0,
  floor_hash bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
  started_at timestamptz NOT NULL DEFAULT now()
);
-- Eight chains, so that up to eight batches are written at once; more can be added by inserting rows here.
INSERT INTO audit_chains (chain) SELECT generate_series(1, 8);

-- Signed chain heads: the signature covers the canonical JSON of (chain, seq, hash, time).
CREATE TABLE audit_checkpoints (
  chain int NOT NULL,
  seq bigint NOT NULL,
  hash bytea NOT NULL,
  time timestamptz NOT NULL,
  key_id text NOT NULL,
  signature bytea NOT NULL,
  PRIMARY KEY (chain, seq)
);

-- The public half of every key that signed a checkpoint (DER SubjectPublicKeyInfo), as the signer reported it.
-- `verify --public-key` checks them against keys obtained elsewhere (a copy of this table proves nothing alone).
CREATE TABLE audit_checkpoint_keys (
  key_id text PRIMARY KEY,
  public_key bytea NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now()
);
