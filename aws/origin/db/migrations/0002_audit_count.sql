-- Up Migration
-- Forward only, like 0001.

-- An event that stands for several refused requests (rate limits, audited as one event per minute) says how many.
ALTER TABLE audit_events ADD COLUMN count int;
