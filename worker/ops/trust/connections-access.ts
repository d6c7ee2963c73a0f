import type { EdgeConfig } from "../../../contract/config/schema.ts";
import type { OpsConnections } from "../../../contract/ops-connections.ts";
import { edgeOAuth } from "../../auth/authorization-server.ts";
import { companyName } from "../../auth/consent-page.ts";
import { edgeConfig } from "../../config.ts";
import type { UserProps } from "../../env.ts";
import { postedForm } from "../../http/posted-form.ts";
import { callOriginForOps } from "../data/origin-call.ts";
import { OPS_CONNECTIONS_PAGE_PATH } from "../pages/connections-paths.ts";
import { opsPage } from "../pages/layout.ts";
import { opsRedirectUri } from "../paths.ts";
import { readCookie } from "../sign-in/cookies.ts";
import { csrfToken, type FormSource, formRefusalReason, formSource } from "../sign-in/csrf.ts";
import { opsCaller } from "../sign-in/ops-caller.ts";
import { opsClientId } from "../sign-in/ops-client.ts";
import { startOpsSignIn } from "../sign-in/start-sign-in.ts";
import type { OpsContext } from "./as-admin.ts";

/**
 * Whoever is signed in to /ops and looks at upstream connections: an administrator sees every user's, anyone else
 * only their own. Unlike the other trust pages, a user without `mcp:admin` is served (their own rows), so the origin
 * is asked under an assertion that opens only that user's rows.
 */
export interface ConnectionsViewer {
  config: EdgeConfig;
  user: UserProps;
  clientId: string;
  scope: OpsConnections["scope"];
  company: string;
  /** This session's CSRF token, for the page's forms. */
  csrf: string;
}

/** Runs `page` for a signed-in user of /ops; a signed-out browser is sent to sign in, and nothing reaches the origin. */
export async function asConnectionsViewer(
  c: OpsContext,
  page: (viewer: ConnectionsViewer) => Promise<Response>,
): Promise<Response> {
  const config = edgeConfig(c.env);
  const caller = await opsCaller(c.req.raw, config, c.env);
  if (caller.kind === "signed-out")
    return startOpsSignIn(c.req.raw, config, c.env, { forgetSession: true, returnTo: new URL(c.req.url).pathname });
  // A user's session belongs to the dashboard's own client: the assertion names it as the client, as for an administrator.
  const clientId =
    caller.kind === "admin"
      ? caller.clientId
      : await opsClientId(c.env, edgeOAuth(config).authorizationServer.getOAuthApi(c.env), opsRedirectUri(config));
  const session = readCookie(c.req.raw, config, "session") ?? "";
  return page({
    config,
    user: caller.user,
    clientId,
    scope: caller.kind === "admin" ? "all" : "own",
    company: companyName(config),
    csrf: await csrfToken(session),
  });
}

/** Runs `act` with the posted form only when it carries this session's CSRF token; nothing else reaches the origin. */
export const asConnectionsForm = (
  c: OpsContext,
  act: (viewer: ConnectionsViewer, form: FormData) => Promise<Response>,
): Promise<Response> =>
  asConnectionsViewer(c, async (viewer) => {
    const form = await postedForm(c.req.raw);
    const source = await formSource(c.req.raw, form, viewer.config);
    if (source !== "same") return forgedForm(source);
    return act(viewer, form);
  });

const forgedForm = (source: Exclude<FormSource, "same">) =>
  opsPage(
    "Ops dashboard: form refused",
    `<main><h1>This form was refused</h1><p>${formRefusalReason(source)}. Open <a href="${OPS_CONNECTIONS_PAGE_PATH}">the connections</a> again and revoke from there.</p></main>`,
    { status: 403 },
  );

/**
 * A request to the origin for the viewer: an administrator's under the dashboard's `ops` assertion, a user's under an
 * `own-connections` one naming them, which the origin lets see and revoke only their own rows.
 */
export async function callOriginForConnections(
  viewer: ConnectionsViewer,
  path: string,
  init: { method: "GET" | "POST"; body?: unknown },
): Promise<Response> {
  const reader = { user: viewer.user, clientId: viewer.clientId };
  return callOriginForOps(viewer.config, reader, path, init, viewer.scope === "all" ? "ops" : "own-connections");
}
