-- Up Migration
-- Forward only, like 0001. While an origin instance renews a user's token, it marks the row until this time: no other
-- instance sends the same (rotating) refresh token meanwhile; they wait for the new token instead. The mark is a lease,
-- not a lock held by a connection: an instance that dies mid-refresh holds it at most until it passes.
ALTER TABLE upstream_tokens ADD COLUMN refreshing_until timestamptz;
