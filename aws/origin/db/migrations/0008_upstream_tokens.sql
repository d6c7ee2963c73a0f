-- Users' OAuth tokens toward upstream MCP servers (docs/upstream-credentials.md), one row per user and server. The
-- tokens are only in `sealed` (AES-256-GCM under the row's own data key, the row's identity as associated data); the
-- data key is only in `wrapped_key`, encrypted by KMS (or the local key). Nothing here is readable without that key.
CREATE TABLE upstream_tokens (
  user_sub    text        NOT NULL,
  server      text        NOT NULL,
  user_email  text,
  wrapped_key bytea       NOT NULL,
  sealed      bytea       NOT NULL,
  -- When the access token expires (refreshed before), so that operators see stale connections without opening rows.
  expires_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_sub, server)
);
CREATE INDEX upstream_tokens_email ON upstream_tokens (user_email);

-- Authorizations begun and not yet completed: found by a hash of their `state`, taken once, short-lived. The PKCE
-- verifier and the client it was begun with are sealed like tokens.
CREATE TABLE upstream_oauth_pending (
  state_hash  text        PRIMARY KEY,
  user_sub    text        NOT NULL,
  user_email  text,
  server      text        NOT NULL,
  wrapped_key bytea       NOT NULL,
  sealed      bytea       NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX upstream_oauth_pending_expiry ON upstream_oauth_pending (expires_at);
