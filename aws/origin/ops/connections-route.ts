import type { Context, Hono, MiddlewareHandler } from "hono";
import type pg from "pg";
import {
  ConnectionRevokeRequest,
  type ConnectionRevokeResult,
  OPS_CONNECTIONS_PATH,
  OPS_CONNECTIONS_REVOKE_PATH,
  type OpsConnections,
} from "../../../contract/ops-connections.ts";
import type { AuditStore } from "../audit/store.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { operatorVault, type RevokedUser, revokeAudited } from "../vault/revocation.ts";
import type { ConnectionSummary } from "../vault/token-vault.ts";
import { type ConnectionsReader, connectionsAccess } from "./connections-access.ts";

type OriginEnv = { Variables: AssertionVariables };

export interface OpsConnectionsParts {
  db: pg.Pool | undefined;
  /** Writes each revocation's audit record in the revocation's own transaction. */
  audit: Pick<AuditStore, "insertWith">;
}

/**
 * Users' upstream OAuth connections for /ops (docs/upstream-credentials.md): `GET /ops/connections` lists them, never a
 * token; `POST /ops/connections/revoke` deletes one user's tokens for one server or all of them (offboarding), recorded
 * under the e-mail of whoever revoked and audited as the CLI does. An administrator (`ops` assertion) reaches every
 * user's; a user (`own-connections` assertion) only their own. Without a database, no routes.
 */
export function registerOpsConnectionsRoutes(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  parts: OpsConnectionsParts,
): void {
  const { db } = parts;
  if (!db) return;
  const vault = operatorVault(db);

  app.get(OPS_CONNECTIONS_PATH, guarded, connectionsAccess, async (c) => {
    const reader = c.var.connectionsReader;
    const rows = reader.scope === "all" ? await vault.list() : await ownRows(reader);
    const body = { scope: reader.scope, connections: rows.map(listed) } satisfies OpsConnections;
    return c.json(body, 200, { "cache-control": "no-store" });
  });

  app.post(OPS_CONNECTIONS_REVOKE_PATH, guarded, connectionsAccess, async (c) => {
    const reader = c.var.connectionsReader;
    const request = ConnectionRevokeRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!request.success) {
      const problems = request.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
      return c.json({ error: "invalid_revocation", problems }, 400);
    }
    const user = whoseConnections(reader, request.data);
    if (!user) return notYours(c);
    const revoked = await revokeAudited(vault, parts.audit, user, request.data.server, reader.email);
    return c.json({ revoked, by: reader.email } satisfies ConnectionRevokeResult);
  });

  /** A user's own rows: found by their e-mail, kept only if they are the same identity-provider account. */
  async function ownRows(reader: ConnectionsReader) {
    return (await vault.list(reader.email)).filter((row) => row.sub === reader.sub);
  }
}

/**
 * Whose tokens a request may revoke: anyone's for an administrator; for a user, only their own, always deleted by
 * their identity-provider id (never by an e-mail another account could share). Undefined: not the caller's to revoke.
 */
function whoseConnections(reader: ConnectionsReader, request: ConnectionRevokeRequest): RevokedUser | undefined {
  if (reader.scope === "all") return "sub" in request ? { sub: request.sub } : { email: request.user };
  const own = "sub" in request ? request.sub === reader.sub : request.user.toLowerCase() === reader.email.toLowerCase();
  return own ? { sub: reader.sub, email: reader.email } : undefined;
}

const notYours = (c: Context) =>
  c.json(
    {
      error: "not_your_connection",
      detail: "a user who is not an administrator revokes only their own connections; sign in with mcp:admin to revoke another's",
    },
    403,
  );

const listed = (row: ConnectionSummary): OpsConnections["connections"][number] => ({
  email: row.email,
  sub: row.sub,
  server: row.server,
  connectedSince: row.createdAt.toISOString(),
  lastRefreshed: row.updatedAt.toISOString(),
  expiresAt: row.expiresAt?.toISOString() ?? null,
});
