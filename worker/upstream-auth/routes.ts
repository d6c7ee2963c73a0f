import type { Hono } from "hono";
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

/**
 * The edge's half of upstream OAuth (docs/upstream-credentials.md): the origin's Client ID Metadata Document (an
 * upstream's authorization server fetches it from the internet), and the browser's return from an upstream's consent,
 * handed to the origin under an assertion of purpose `upstream-oauth`. That assertion names no user: the browser
 * carries no MCP token, and the state, bound at the origin to the user it was shown to, decides whose connection it is.
 */
export function registerUpstreamAuthRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(UPSTREAM_OAUTH_CLIENT_METADATA_PATH, (c) => {
    const config = edgeConfig(c.env);
    const name = config.displayName ?? new URL(config.publicUrl).host;
    return c.json(upstreamClientMetadata(config.publicUrl, name), 200, { "cache-control": "public, max-age=3600" });
  });
  app.get(UPSTREAM_OAUTH_CALLBACK_PATH, async (c) => {
    const query = new URL(c.req.url).searchParams;
    const state = query.get("state");
    if (!state) return page(400, "This link is incomplete: it carries no state. Call the tool again for a new link.");
    const answer: UpstreamOAuthReturn = { state };
    for (const key of ["code", "iss", "error", "error_description"] as const) {
      const value = query.get(key);
      if (value !== null) answer[key] = value;
    }
    const claims = { sub: "upstream-oauth-callback", client_id: "upstream-oauth-callback", purpose: "upstream-oauth" as const };
    const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: JSON.stringify(answer) };
    const response = await fetchOrigin(edgeConfig(c.env), UPSTREAM_OAUTH_COMPLETE_PATH, claims, init);
    const outcome = (await response.json().catch(() => undefined)) as UpstreamOAuthOutcome | undefined;
    if (outcome?.ok) {
      const who = outcome.email ? ` for ${outcome.email}` : "";
      return page(200, `Server "${outcome.server}" is connected${who}. You can close this tab and go back to your MCP client.`);
    }
    return page(
      response.ok ? 400 : response.status,
      outcome?.message ?? "The gateway could not complete this sign-in. Call the tool again.",
    );
  });
}

function page(status: number, message: string): Response {
  const escaped = message.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
  const body = `<!doctype html><meta charset="utf-8"><title>Connection</title><p>${escaped}</p>`;
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
    },
  });
}
