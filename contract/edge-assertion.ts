import { z } from "zod";

/**
 * The edge assertion: a short-lived JWT the edge signs for every request it sends to the origin.
 * It is the only credential the origin accepts. MCP client tokens never leave the edge.
 */

/** The request header that carries the assertion (a dedicated header, so a relayed request can never confuse it with a client's own Authorization). */
export const EDGE_ASSERTION_HEADER = "mcp-edge-assertion";

/** JWT `typ` header: stops a token of another kind (an id_token, say) being replayed as an assertion. */
export const EDGE_ASSERTION_TYPE = "mcp-edge+jwt";

/**
 * The algorithm of an edge key whose public half the edge publishes (the default). A deployment may instead share an
 * HMAC key between the tiers (contract/edge-shared-key.ts); an origin accepts exactly one of the two.
 */
export const EDGE_ASSERTION_ALG = "ES256";

/** Lifetime the edge gives an assertion (the clock skew the origin tolerates on top of it is EDGE_ASSERTION_MAX_SKEW_SECONDS). */
export const EDGE_ASSERTION_TTL_SECONDS = 60;
/**
 * The largest assertion the edge sends. It travels in one header: the ALB takes a header of at most 16 KiB, and the
 * origin's Node server at most 16 KiB of headers in all. A user's groups are most of it (`groups.include` keeps it
 * small); the rest, with the balancer's cookies and the MCP headers, fits in what is left.
 */
export const MAX_EDGE_ASSERTION_BYTES = 12 * 1024;
export const EDGE_ASSERTION_MAX_SKEW_SECONDS = 30;

/** Where the edge publishes the public half of its signing key (the origin fetches it; empty with a shared key). */
export const EDGE_JWKS_PATH = "/.well-known/edge-jwks.json";

/**
 * The `server` claim of a request to the aggregated endpoint (`/mcp`, every server the user may use). Server names
 * cannot contain `*`, so it never names one server.
 */
export const ALL_SERVERS = "*";

/** Where the origin serves one server's endpoint, or the aggregated one. */
export const originMcpPath = (server: string): string => (server === ALL_SERVERS ? "/mcp" : `/servers/${server}/mcp`);

/** Claims beyond the registered ones (iss, aud, exp, iat, jti, sub). */
export const EdgeAssertionClaims = z.object({
  sub: z.string().min(1), // the user's stable id at the identity provider
  email: z.string().optional(),
  groups: z.array(z.string()).optional(),
  client_id: z.string().min(1), // the MCP client the user authorized
  server: z.string().optional(), // the upstream the request is for; absent for origin-level calls (audit ingest)
  // "legacy" when the request comes from a 2025-era client's session: the origin then speaks the 2025 protocol to
  // an upstream that serves both eras, so its 2025-style server-to-client requests work as they would directly.
  client_era: z.enum(["legacy", "modern"]).optional(),
  // What the assertion may be used for. The edge's own audit delivery says so, and only it is accepted at the
  // audit ingest; an assertion minted for a user's MCP call cannot post audit events, nor the reverse. "groups" asks
  // the origin for the groups of the user the assertion names, and opens nothing else. "warm" starts the named
  // user's upstreams at sign-in (POST /servers/warm) and opens nothing else. "upstream-oauth" hands a browser's return
  // from an upstream's consent to the origin (POST /upstream-oauth/complete), naming the user that browser signed in
  // as at the edge: the origin completes the state only if it was made for that user.
  // "own-connections" lists and revokes the named user's own upstream connections (contract/ops-connections.ts) for a
  // signed-in user of /ops who is not an administrator, and opens nothing else.
  purpose: z.enum(["mcp", "audit-delivery", "ops", "groups", "warm", "upstream-oauth", "own-connections"]).default("mcp"),
  // The origin instance the edge knows the user is on (its `mcp-origin-instance` name). Only that instance accepts
  // the assertion, so it keeps the assertion's jti in memory instead of claiming it in the shared database; any
  // other instance refuses it with 421, naming itself. Absent when the edge does not know the user's instance yet.
  instance: z.string().min(1).optional(),
});
/** What the edge signs (`purpose` may be left out: it means an MCP request). */
export type EdgeAssertionClaims = z.input<typeof EdgeAssertionClaims>;
/** What the origin reads once the claims are verified. */
export type VerifiedEdgeClaims = z.output<typeof EdgeAssertionClaims>;
