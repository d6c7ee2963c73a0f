import { z } from "zod";

/**
 * Users' connections to OAuth-protected upstreams, as the origin answers them to the edge's /ops pages: who is
 * connected to which server and since when, never a token. An assertion with `purpose: "ops"` (an administrator)
 * sees and revokes everyone's; one with `purpose: "own-connections"` (any signed-in user) only the rows of the user
 * it names.
 */

/** GET: the connections the assertion may see. */
export const OPS_CONNECTIONS_PATH = "/ops/connections";
/** POST: forget one user's tokens for one server, or for every server (offboarding). */
export const OPS_CONNECTIONS_REVOKE_PATH = "/ops/connections/revoke";

export const OpsConnections = z.object({
  /** `all` for an administrator, `own` for a user who sees only their own. */
  scope: z.enum(["all", "own"]),
  connections: z.array(
    z.object({
      /** The user's e-mail, null when the identity provider gave none (then `sub` names them). */
      email: z.string().nullable(),
      sub: z.string(),
      server: z.string(),
      /** ISO times: when the user first connected, when the tokens were last stored (a refresh), when they expire. */
      connectedSince: z.string(),
      lastRefreshed: z.string(),
      expiresAt: z.string().nullable(),
    }),
  ),
});
export type OpsConnections = z.infer<typeof OpsConnections>;

const server = { server: z.string().min(1).optional() };

/** Whose tokens go: `user` (their e-mail) or, for a row without an e-mail, `sub`; every server when `server` is absent. */
export const ConnectionRevokeRequest = z.union([
  z.strictObject({ user: z.string().min(1), ...server }),
  z.strictObject({ sub: z.string().min(1), ...server }),
]);
export type ConnectionRevokeRequest = z.infer<typeof ConnectionRevokeRequest>;

/** How many connections went, and who is recorded as having revoked them. */
export const ConnectionRevokeResult = z.object({ revoked: z.number().int().nonnegative(), by: z.string() });
export type ConnectionRevokeResult = z.infer<typeof ConnectionRevokeResult>;
