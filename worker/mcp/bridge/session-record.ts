import type { ClientCapabilities, ServerCapabilities } from "@modelcontextprotocol/server";
import type { EdgeAssertionClaims } from "../../../contract/edge-assertion.ts";

/** Who a session belongs to: the signed-in user, through which client, for which upstream server. */
export interface SessionIdentity {
  sub: string;
  email?: string;
  groups: string[];
  clientId: string;
  server: string;
  /** When the access token of the request that brought this identity expires (epoch seconds), when known. */
  tokenExpiresAt?: number;
  /**
   * When its groups stop being fresh enough to sign with (epoch seconds): read at `checkedAt`, good for
   * `groups.ttlSeconds` (source `google-directory`; groups from the ID token have no such bound).
   */
  groupsFreshUntil?: number;
}

/**
 * A session is its user's, through the client that began it, for one server: anyone else presenting its id (another
 * user, or another of the user's clients, which could otherwise answer this client's approval prompts) is told it
 * does not exist, and a client told so begins a new session.
 */
export const isOwner = (owner: SessionIdentity, caller: SessionIdentity): boolean =>
  owner.sub === caller.sub && owner.clientId === caller.clientId && owner.server === caller.server;

/**
 * What a session's record may hold of what its client sends, in characters of JSON: the record is one Durable Object
 * value (2 MB at most, a character taking at most 2 bytes there), written on every change. Real clients send a few
 * kilobytes.
 */
export const MAX_KEPT_CLIENT_CHARS = { initialize: 64 * 1024, subscriptions: 256 * 1024 } as const;

/**
 * The resources one session may subscribe to. A client resuming its GET stream is told that each may have changed
 * (nobody listened while the stream was down), one logged event each: this bounds what one resumption costs. The same
 * bound holds one 2026-07-28 listen's resource subscriptions at the origin, hence its home in contract/.
 */
export { MAX_SUBSCRIPTIONS } from "../../../contract/resource-subscriptions.ts";

/**
 * What the record may hold of the upstream's `server/discover` answer, in characters of JSON: with the client's share
 * above, the record stays under the 2 MB a value may have. Real servers describe themselves in a few kilobytes; one
 * past this (long instructions, icons as data URIs) is refused by name rather than failing the storage write.
 */
export const MAX_KEPT_DISCOVER_CHARS = 512 * 1024;

/** What the edge keeps of a 2025-era client session (Durable Object storage), enough to rebuild it after eviction. */
export interface SessionRecord {
  sessionId: string;
  identity: SessionIdentity;
  /**
   * The client's `initialize` params, replayed to rebuild the session's server after eviction; what the client
   * declared of itself is read from them (`clientOf`), not kept twice.
   */
  initialize: Record<string, unknown>;
  /**
   * What the releases before 2026-12-02 read the client's declaration from, still written so that the edge can go
   * back to one of them (docs/deploy.md, "Rollback") without breaking the sessions begun since; never read here.
   */
  client?: ClientDeclaration & { protocolVersion: string };
  /** The upstream as the origin's `server/discover` described it when the session began. */
  discover: {
    serverInfo: { name: string; version: string; title?: string };
    capabilities: ServerCapabilities;
    instructions?: string;
  };
  /** `logging/setLevel`: sent with every request as the 2026-07-28 per-request log level. */
  logLevel?: string;
  /** `resources/subscribe`: watched through the origin's `subscriptions/listen` while the GET stream is open. */
  subscriptions: string[];
  createdAt: number;
}

/** What a client declared of itself at `initialize`: sent to the origin with each of its session's requests. */
export interface ClientDeclaration {
  capabilities: ClientCapabilities;
  info: { name: string; version: string };
}

/** What a client declared of itself, from its `initialize` params. */
export function clientOf(initialize: Record<string, unknown>): ClientDeclaration {
  return {
    capabilities: (initialize.capabilities ?? {}) as ClientCapabilities,
    info: (initialize.clientInfo ?? { name: "unknown", version: "unknown" }) as ClientDeclaration["info"],
  };
}

/** The claims of the edge assertions a session's requests carry. */
export function claimsOf(identity: SessionIdentity): EdgeAssertionClaims {
  return {
    sub: identity.sub,
    email: identity.email,
    groups: identity.groups,
    client_id: identity.clientId,
    server: identity.server,
    // The origin speaks the 2025 protocol to the upstream for this client (see contract/edge-assertion.ts).
    client_era: "legacy",
  };
}

/** What bounds how long an identity may sign requests: its token's expiry, its groups' freshness. */
export type Authorization = Pick<SessionIdentity, "tokenExpiresAt" | "groupsFreshUntil">;

/**
 * Until when (epoch seconds) `identity` may sign a request: the earlier of its token's expiry and its groups' freshness
 * bound; undefined when neither is known. A listen lives no longer than this (its client then listens again, afresh).
 */
export function authorizedUntil(identity: Authorization | undefined): number | undefined {
  const bounds = [identity?.tokenExpiresAt, identity?.groupsFreshUntil].filter((bound) => bound !== undefined);
  return bounds.length > 0 ? Math.min(...bounds) : undefined;
}

/** Whether `identity` may sign nothing more: its token has expired or its groups are older than the TTL. */
export const authorizationLapsed = (identity: Authorization | undefined): boolean => {
  const until = authorizedUntil(identity);
  return until !== undefined && until * 1000 <= Date.now();
};
