-- Up Migration
-- Forward only, like 0001. What a row's fingerprint covers (aws/origin/pinning/fingerprint.ts): 1, the fields the
-- releases before named; 2, the whole definition but its volatile fields. The rows there are 1, and so are the rows an
-- instance of an earlier release records during a rolling update; this release records 2. An approved row of
-- version 1 is carried over to version 2 when its definition is seen unchanged in those fields (docs/pinning.md).
ALTER TABLE pinned_definitions ADD COLUMN fingerprint_version smallint NOT NULL DEFAULT 1;
