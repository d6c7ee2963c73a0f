import type { Hono } from "hono";
import {
  ConnectionRevokeRequest,
  ConnectionRevokeResult,
  OPS_CONNECTIONS_PATH,
  OPS_CONNECTIONS_REVOKE_PATH,
  OpsConnections,
} from "../../../contract/ops-connections.ts";
import type { EdgeEnv } from "../../env.ts";
import { expectStatus } from "../data/origin-call.ts";
import { connectionsPage } from "../pages/connections.ts";
import { OPS_CONNECTIONS_PAGE_PATH, OPS_CONNECTIONS_REVOKE_PAGE_PATH } from "../pages/connections-paths.ts";
import { opsPage } from "../pages/layout.ts";
import { readable } from "./as-admin.ts";
import {
  asConnectionsForm,
  asConnectionsViewer,
  type ConnectionsViewer,
  callOriginForConnections,
} from "./connections-access.ts";
import { noticeFacts, noticeLocation } from "./sealed-notice.ts";

/** The fields a Revoke form may carry (its CSRF token aside). */
const REVOKE_FIELDS = ["user", "sub", "server"] as const;

/** `/ops/connections`: users' upstream connections (a user's own only, unless an administrator); Revoke forms post. */
export function registerOpsConnectionsRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_CONNECTIONS_PAGE_PATH, (c) =>
    asConnectionsViewer(c, async (viewer) =>
      connectionsPage({
        ...view(viewer),
        connections: await readConnections(viewer),
        notice: noticeOf((await noticeFacts(c.req.raw, viewer.csrf, OPS_CONNECTIONS_PAGE_PATH)) ?? {}),
      }),
    ),
  );

  app.post(OPS_CONNECTIONS_REVOKE_PAGE_PATH, (c) =>
    asConnectionsForm(c, async (viewer, form) => {
      const filled = REVOKE_FIELDS.flatMap((key) => (typeof form.get(key) === "string" ? [[key, form.get(key)]] : []));
      const request = ConnectionRevokeRequest.safeParse(Object.fromEntries(filled));
      if (!request.success) return unreadableRevocation();
      const result = await readable(async () => {
        const response = await callOriginForConnections(viewer, OPS_CONNECTIONS_REVOKE_PATH, {
          method: "POST",
          body: request.data,
        });
        return ConnectionRevokeResult.parse(await (await expectStatus(response, OPS_CONNECTIONS_REVOKE_PATH)).json());
      });
      if ("problem" in result) return connectionsPage({ ...view(viewer), connections: result });
      const who = "sub" in request.data ? request.data.sub : request.data.user;
      const facts = { revoked: String(result.revoked), who, server: request.data.server ?? "" };
      // After a POST, a GET: reloading the list does not revoke again.
      const headers = {
        location: await noticeLocation(viewer.csrf, OPS_CONNECTIONS_PAGE_PATH, facts),
        "cache-control": "no-store",
      };
      return new Response(null, { status: 303, headers });
    }),
  );
}

const view = (viewer: ConnectionsViewer) => ({
  company: viewer.company,
  user: viewer.user,
  scope: viewer.scope,
  csrf: viewer.csrf,
});

const readConnections = (viewer: ConnectionsViewer) =>
  readable(async () => {
    const response = await callOriginForConnections(viewer, OPS_CONNECTIONS_PATH, { method: "GET" });
    return OpsConnections.parse(await (await expectStatus(response, OPS_CONNECTIONS_PATH)).json()).connections;
  });

/** The sentence after a revocation, from the facts its redirect signed. */
function noticeOf(query: Record<string, string>): string | undefined {
  const { revoked, who, server } = query;
  if (revoked === undefined || !who) return undefined;
  const what = server ? `${who}'s connection to ${server}` : `every connection of ${who}`;
  const count = Number(revoked);
  return count > 0 ? `Revoked ${what} (${count} removed).` : `Nothing revoked: ${what} was already gone.`;
}

const unreadableRevocation = () =>
  opsPage(
    "Ops dashboard: bad request",
    `<main><h1>This revocation cannot be read</h1><p>Go back to <a href="${OPS_CONNECTIONS_PAGE_PATH}">the connections</a> and choose again.</p></main>`,
    { status: 400 },
  );
