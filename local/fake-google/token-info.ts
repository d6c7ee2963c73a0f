import type { IncomingMessage, ServerResponse } from "node:http";
import { oauthError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";

export const TOKEN_INFO_PATH = "/tokeninfo";
/** Scopes that let the token's holder learn the user's e-mail: only then does Google's tokeninfo name it. */
const EMAIL_SCOPES = ["email", "https://www.googleapis.com/auth/userinfo.email"];

/**
 * `GET /tokeninfo?access_token=...` (Google's `oauth2.googleapis.com/tokeninfo`): what an access token carries, as an
 * upstream holding a user's token can ask: its scopes and remaining life, and the user's e-mail when a scope allows it.
 */
export function serveTokenInfo(request: IncomingMessage, response: ServerResponse, tokens: IssuedTokens) {
  const value = new URL(request.url ?? "/", "http://fake").searchParams.get("access_token") ?? "";
  const token = tokens.fromRequest(`Bearer ${value}`);
  if (!token) return oauthError(response, 400, "invalid_token", "Invalid Value");
  const showsEmail = token.kind === "delegated" && token.scopes.some((scope) => EMAIL_SCOPES.includes(scope));
  sendJson(response, 200, {
    scope: token.scopes.join(" "),
    exp: String(Math.floor(token.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000))),
    access_type: "online",
    ...(showsEmail && { email: token.principal, email_verified: "true" }),
  });
}
