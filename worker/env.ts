import type { AuditQueueMessage } from "../contract/audit-event.ts";
import type { AuditSpool } from "../durable-objects/audit-spool.ts";
import type { GrantTurns } from "../durable-objects/grant-turns.ts";
import type { McpSession } from "../durable-objects/mcp-session.ts";
import type { OriginAffinity } from "../durable-objects/origin-affinity.ts";
import type { RateLimiter } from "../durable-objects/rate-limiter.ts";
import type { UserSessions } from "../durable-objects/user-sessions.ts";

/**
 * The Worker's bindings (wrangler.toml). Configuration values arrive as plain strings and are
 * validated by `config.ts`; secrets (IDP_CLIENT_SECRET, EDGE_SIGNING_KEY) are set with `wrangler secret put`.
 */
export interface EdgeEnv {
  /** Clients, grants and tokens of the authorization server (tokens stored only as hashes). */
  OAUTH_KV: KVNamespace;
  /** Audit events on their way to the origin; the queue holds them while the origin is down. */
  AUDIT_QUEUE: Queue<AuditQueueMessage>;
  /** Audit events the queue refused, kept and sent again once it takes them (a few objects, durable-objects/audit-spool.ts). */
  AUDIT_SPOOL: DurableObjectNamespace<AuditSpool>;
  /** Legacy (2025-era) client sessions, one object per `Mcp-Session-Id`. */
  MCP_SESSION: DurableObjectNamespace<McpSession>;
  /** Each user's live 2025-era sessions, one object per user: bounds their number (`sessionsPerUser`). */
  USER_SESSIONS: DurableObjectNamespace<UserSessions>;
  /** Each user's origin instance (balancer stickiness), one object per user. */
  ORIGIN_AFFINITY: DurableObjectNamespace<OriginAffinity>;
  /** Request counters per caller (one object per client IP) for the authorization endpoints' rate limits. */
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** One object per OAuth grant: its token requests take turns (durable-objects/grant-turns.ts). */
  GRANT_TURNS: DurableObjectNamespace<GrantTurns>;
  /** MCP requests per signed-in user (Workers rate limiting; limits in wrangler.toml). Unbound: no limit. */
  RATE_LIMIT_USER?: RateLimit;
  /** MCP requests per OAuth client of a signed-in user, counted before the user's. Unbound: no limit. */
  RATE_LIMIT_CLIENT?: RateLimit;
  /** MCP requests per client IP, counted before the token is checked. Unbound: no limit. */
  RATE_LIMIT_IP?: RateLimit;
  /** One data point per MCP request and auth event (docs/analytics.md). Unbound: nothing is written. */
  ANALYTICS?: AnalyticsEngineDataset;
  [variable: string]: unknown;
}

/** What the edge knows about a signed-in user; stored encrypted in each grant and handed to the MCP handler as `ctx.props`. */
export interface UserProps {
  sub: string;
  email?: string;
  name?: string;
  /** Google Workspace domain (`hd` claim), when the identity provider sends one. */
  hostedDomain?: string;
  groups: string[];
  /** When the groups were read from the directory (epoch seconds); absent when they came from the id_token. */
  groupsCheckedAt?: number;
}
