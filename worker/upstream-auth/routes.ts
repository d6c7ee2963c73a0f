import type { Hono } from "hono";
import {
  UPSTREAM_OAUTH_CALLBACK_PATH,
  UPSTREAM_OAUTH_CLIENT_METADATA_PATH,
  UPSTREAM_OAUTH_COMPLETE_PATH,
  type UpstreamOAuthOutcome,
  type UpstreamOAuthReturn,
  upstreamClientMetadata,
} from "../../contract/upstream-oauth.ts";
import { escapeHtml, htmlPage } from "../auth/html.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { fetchOrigin } from "../upstream/fetch-origin.ts";
import { CONSENT_SIGNED_IN_PATH } from "./consent-client.ts";
import { finishConsentSignIn, startConsentSignIn } from "./consent-sign-in.ts";

/**
 * The edge's half of upstream OAuth (docs/upstream-credentials.md): the origin's Client ID Metadata Document (an
 * upstream's authorization server fetches it from the internet), and the browser's return from an upstream's consent.
 * The return is handed to the origin only once the browser has signed in at the edge, under an assertion of purpose
 * `upstream-oauth` naming the user who signed in: the origin completes a state only for the user it was made for.
 */
export function registerUpstreamAuthRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  registerLegacyRoutes(app);
  app.get(`${UPSTREAM_OAUTH_CLIENT_METADATA_PATH}/:document`, (c) => {
    const config = edgeConfig(c.env);
    const server = c.req.param("document").replace(/\.json$/, "");
    if (!config.servers.includes(server)) return c.json({ error: "not_found" }, 404);
    const name = config.displayName ?? new URL(config.publicUrl).host;
    const metadata = upstreamClientMetadata(config.publicUrl, name, server);
    return c.json(metadata, 200, { "cache-control": "public, max-age=3600" });
  });
  app.get(`${UPSTREAM_OAUTH_CALLBACK_PATH}/:server`, (c) => {
    const query = new URL(c.req.url).searchParams;
    const state = query.get("state");
    if (!state) return page(400, "This link is incomplete: it carries no state. Call the tool again for a new link.");
    const returned: UpstreamOAuthReturn = { server: c.req.param("server"), state };
    for (const key of ["code", "iss", "error", "error_description"] as const) {
      const value = query.get(key);
      if (value !== null) returned[key] = value;
    }
    return startConsentSignIn(c, returned);
  });
  app.get(CONSENT_SIGNED_IN_PATH, async (c) => {
    const config = edgeConfig(c.env);
    const signedIn = await finishConsentSignIn(c);
    if ("problem" in signedIn) return page(signedIn.status, signedIn.problem, signedIn.forget);
    const { user, clientId, returned, forget } = signedIn;
    const claims = { sub: user.sub, email: user.email, client_id: clientId, purpose: "upstream-oauth" as const };
    const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: JSON.stringify(returned) };
    const response = await fetchOrigin(config, UPSTREAM_OAUTH_COMPLETE_PATH, claims, init);
    const outcome = (await response.json().catch(() => undefined)) as UpstreamOAuthOutcome | undefined;
    if (outcome?.ok) {
      const who = outcome.email ? ` for ${outcome.email}` : "";
      const done = `Server "${outcome.server}" is connected${who}. You can close this tab and go back to your MCP client.`;
      return page(200, done, forget);
    }
    const message = outcome?.message ?? "The gateway could not complete this sign-in. Call the tool again.";
    return page(response.ok ? 400 : response.status, message, forget);
  });
}

/** The paths releases before 2026-12-01 used: one document and one callback for every server. */
const LEGACY_CLIENT_METADATA_PATH = `${UPSTREAM_OAUTH_CLIENT_METADATA_PATH}.json`;
const LEGACY_CALLBACK_PATH = UPSTREAM_OAUTH_CALLBACK_PATH;

/**
 * What connections made before 2026-12-01 still point at. Each keeps the client it was made with for its renewals, so
 * a `cimd` one's client id is the old document's URL, which an authorization server fetches again when its copy ends:
 * without it the renewal is refused and the user consents again. The document names only the old shared callback,
 * which completes nothing (a code sent there could belong to any server: the mix-up per-server paths prevent), so it
 * serves renewals and no new authorization. Consents an origin from before the upgrade began come back there too.
 */
function registerLegacyRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(LEGACY_CLIENT_METADATA_PATH, (c) => {
    const config = edgeConfig(c.env);
    const name = config.displayName ?? new URL(config.publicUrl).host;
    const metadata = {
      ...upstreamClientMetadata(config.publicUrl, name, ""),
      client_id: `${config.publicUrl}${LEGACY_CLIENT_METADATA_PATH}`,
      redirect_uris: [`${config.publicUrl}${LEGACY_CALLBACK_PATH}`],
    };
    return c.json(metadata, 200, { "cache-control": "public, max-age=3600" });
  });
  app.get(LEGACY_CALLBACK_PATH, () =>
    page(
      410,
      "This sign-in was begun before the gateway was upgraded and came back to an address it no longer completes. Nothing was connected: call the tool again for a new link.",
    ),
  );
}

function page(status: number, message: string, setCookie?: string): Response {
  const headers = new Headers(setCookie ? { "set-cookie": setCookie } : {});
  const title = status === 200 ? "Connected" : "Not connected";
  return htmlPage(title, `<h1>${title}</h1><p>${escapeHtml(message)}</p>`, { status, headers });
}
