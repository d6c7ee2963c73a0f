import { extractWWWAuthenticateParams } from "@modelcontextprotocol/client";
import type { HttpServer } from "../../../contract/config/schema.ts";
import type { TokenOwner } from "../vault/token-vault.ts";
import { UpstreamConsentRequired } from "./consent.ts";
import type { UpstreamOAuth } from "./upstream-oauth.ts";

/**
 * The fetch an OAuth-protected upstream is reached with: the user's own access token on every request (never the MCP
 * client's, never anyone else's). A 401 gets one refresh and one retry; then, or without a stored token, the request
 * fails with UpstreamConsentRequired, which asks this user (and no one else) to consent again. The 401's
 * `WWW-Authenticate` feeds discovery (RFC 9728 `resource_metadata`, `scope`).
 */
export function upstreamTokenFetch(
  oauth: UpstreamOAuth,
  owner: () => TokenOwner,
  spec: HttpServer,
  send: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const user = owner();
    const token = await oauth.accessToken(user, spec);
    const first = await send(input, withToken(init, token));
    if (first.status !== 401) return first;
    const challenge = extractWWWAuthenticateParams(first);
    await first.body?.cancel();
    const renewed = token === undefined ? undefined : await oauth.refresh(user, token, spec);
    if (renewed !== undefined) {
      const second = await send(input, withToken(init, renewed));
      if (second.status !== 401) return second;
      // A token just issued refused too: only a new consent can help (another refresh would spend a rotation for nothing).
      await second.body?.cancel();
    }
    throw new UpstreamConsentRequired(user.server, () => oauth.begin(user, spec, challenge));
  };
}

function withToken(init: RequestInit | undefined, token: string | undefined): RequestInit {
  const headers = new Headers(init?.headers);
  if (token === undefined) headers.delete("authorization");
  else headers.set("authorization", `Bearer ${token}`);
  return { ...init, headers };
}
