import type { Hono, MiddlewareHandler } from "hono";
import { UPSTREAM_OAUTH_COMPLETE_PATH, type UpstreamOAuthReturn } from "../../../contract/upstream-oauth.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { authorizationServerWords } from "./authorization-server-words.ts";
import type { UpstreamOAuth } from "./upstream-oauth.ts";

type OriginEnv = { Variables: AssertionVariables };

/**
 * POST /upstream-oauth/complete: the edge hands over a browser's return from an upstream's consent (code, state, iss).
 * Only an assertion minted for this purpose is accepted. It names the user the browser signed in as at the edge; the
 * state (single use, short-lived) completes only if it was made for that same user.
 */
export function registerUpstreamOAuthRoute(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  oauth: UpstreamOAuth | undefined,
  log: (line: string) => void,
): void {
  app.post(UPSTREAM_OAUTH_COMPLETE_PATH, guarded, async (c) => {
    if (c.var.assertion.purpose !== "upstream-oauth") {
      const detail = "only the edge's upstream OAuth callback may complete an authorization";
      return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
    }
    if (!oauth) return c.json({ ok: false, message: "no OAuth-protected upstream is configured on this origin" }, 404);
    const answer = (await c.req.json().catch(() => undefined)) as UpstreamOAuthReturn | undefined;
    if (typeof answer?.state !== "string" || typeof answer.server !== "string")
      return c.json({ ok: false, message: "the link back carried no state or server" }, 400);
    try {
      return c.json(await oauth.complete(answer, { sub: c.var.assertion.sub, email: c.var.assertion.email }));
    } catch (error) {
      // The exchange's own failure comes worded already; any other (discovery, the vault) is redacted the same way.
      log(`upstream OAuth: completing an authorization failed: ${authorizationServerWords(error)}`);
      return c.json(
        { ok: false, message: "the server's authorization server refused the sign-in; call the tool again for a new link" },
        502,
      );
    }
  });
}
