import type { Hono } from "hono";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import {
  UPSTREAM_OAUTH_CALLBACK_PATH,
  UPSTREAM_OAUTH_CLIENT_METADATA_PATH,
  UPSTREAM_OAUTH_COMPLETE_PATH,
  type UpstreamOAuthOutcome,
  type UpstreamOAuthReturn,
  upstreamClientMetadata,
} from "../../contract/upstream-oauth.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { fetchOrigin } from "../upstream/fetch-origin.ts";
import { CONSENT_SIGNED_IN_PATH } from "./consent-client.ts";
import { finishConsentSignIn, type SignedIn, startConsentSignIn } from "./consent-sign-in.ts";
import { type ConnectionOutcome, connectionPage, resultLocation, resultPage, UPSTREAM_OAUTH_RESULT_PATH } from "./result-page.ts";

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
    // Refused at the upstream (Cancel, Deny): nothing to connect, so no sign-in here either; the origin's pending
    // authorization ends by itself (s24 hunt pages F3).
    const error = query.get("error");
    if (error !== null) return page(error === "access_denied" ? 403 : 400, refusedAtUpstream(error));
    const returned: UpstreamOAuthReturn = { server: c.req.param("server"), state };
    for (const key of ["code", "iss"] as const) {
      const value = query.get(key);
      if (value !== null) returned[key] = value;
    }
    return startConsentSignIn(c, returned);
  });
  app.get(CONSENT_SIGNED_IN_PATH, async (c) => {
    const config = edgeConfig(c.env);
    const signedIn = await finishConsentSignIn(c);
    // No sign-in of this browser's to end: nothing was done, so nothing to redirect to.
    if ("problem" in signedIn && !signedIn.forget) return page(signedIn.status, signedIn.problem);
    const outcome =
      "problem" in signedIn ? { status: signedIn.status, message: signedIn.problem } : await completed(config, signedIn);
    const headers = new Headers({ location: await resultLocation(config, outcome), "cache-control": "no-store" });
    if (signedIn.forget) headers.append("set-cookie", signedIn.forget);
    return new Response(null, { status: 303, headers });
  });
  app.get(UPSTREAM_OAUTH_RESULT_PATH, (c) => resultPage(c.req.raw, edgeConfig(c.env)));
}

/**
 * Hands the upstream's return to the origin under an assertion naming the user who signed in, and says how it ended.
 * An origin it cannot reach is said so, not an "Internal error" (s24 hunt pages F6).
 */
async function completed(config: EdgeConfig, signedIn: SignedIn): Promise<ConnectionOutcome> {
  const { user, clientId, returned } = signedIn;
  const claims = { sub: user.sub, email: user.email, client_id: clientId, purpose: "upstream-oauth" as const };
  const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: JSON.stringify(returned) };
  const response = await fetchOrigin(config, UPSTREAM_OAUTH_COMPLETE_PATH, claims, init).catch((error: unknown) => {
    console.warn(`upstream OAuth: the origin could not be reached to complete a connection to "${returned.server}": ${error}`);
    return undefined;
  });
  if (!response) {
    const message = `The gateway could not reach its server to finish connecting "${returned.server}". Nothing was connected: call the tool again in a few minutes.`;
    return { status: 502, message };
  }
  const outcome = (await response.json().catch(() => undefined)) as UpstreamOAuthOutcome | undefined;
  if (outcome?.ok) {
    const who = outcome.email ? ` for ${outcome.email}` : "";
    return {
      status: 200,
      message: `Server "${outcome.server}" is connected${who}. You can close this tab and go back to your MCP client.`,
    };
  }
  const message = outcome?.message ?? "The gateway could not complete this sign-in. Call the tool again.";
  return { status: response.ok ? 400 : response.status, message };
}

/** What a return that carries the upstream's `error` says (the code only: its description is the upstream's words). */
function refusedAtUpstream(error: string): string {
  if (error === "access_denied")
    return "You did not allow it at the server (Cancel or Deny there), so nothing was connected. Call the tool again if you want to connect.";
  const code = /^[\w.-]{1,64}$/.test(error) ? error : "an error";
  return `The server's authorization server did not give its authorization (${code}), so nothing was connected. Call the tool again to retry.`;
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

const page = (status: number, message: string): Response => connectionPage(status, message);
