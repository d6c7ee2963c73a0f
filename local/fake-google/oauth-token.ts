import type { IncomingMessage, ServerResponse } from "node:http";
import { type CryptoKey, jwtVerify } from "jose";
import { oauthError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";
import { readBody } from "./read-body.ts";

export const OAUTH_TOKEN_PATH = "/token";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_SECONDS = 3600;
/** Google's token endpoint refuses assertions that live longer than an hour. */
const MAX_ASSERTION_SECONDS = 3600;
const UNAUTHORIZED =
  "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";

export interface OAuthTokenOptions {
  /** The token endpoint's own URL: the `aud` an assertion must carry. */
  tokenUrl: string;
  serviceAccount: string;
  /** The service account's key (public half) that signJwt signed with. */
  verifyKey: CryptoKey;
  /** The scopes the Workspace admin delegated to the service account's client id. */
  delegatedScopes: readonly string[];
  /** Workspace users the service account may act as (real Google: any user of the domain). */
  domainUsers: () => readonly string[];
  tokens: IssuedTokens;
}

/**
 * `POST /token` with the JWT-bearer grant (RFC 7523): a JWT the service account signed, naming the Workspace user
 * to act as (`sub`) and the scopes, becomes an access token for that user, if the domain delegated those scopes.
 */
export async function serveOAuthToken(request: IncomingMessage, response: ServerResponse, options: OAuthTokenOptions) {
  const form = new URLSearchParams(await readBody(request));
  if (form.get("grant_type") !== JWT_BEARER) return oauthError(response, 400, "unsupported_grant_type", "Invalid grant_type.");
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(form.get("assertion") ?? "", options.verifyKey, {
      issuer: options.serviceAccount,
      audience: options.tokenUrl,
      requiredClaims: ["iat", "exp", "scope"],
    }));
  } catch (error) {
    return oauthError(response, 400, "invalid_grant", `Invalid JWT Signature or claims: ${(error as Error).message}`);
  }
  if (Number(claims.exp) - Number(claims.iat) > MAX_ASSERTION_SECONDS)
    return oauthError(response, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).");
  const scopes = String(claims.scope).split(" ").filter(Boolean);
  const subject = typeof claims.sub === "string" ? claims.sub : undefined;
  if (!subject || !options.domainUsers().includes(subject))
    return oauthError(response, 400, "invalid_grant", "Invalid email or User ID");
  if (!scopes.every((scope) => options.delegatedScopes.includes(scope)))
    return oauthError(response, 401, "unauthorized_client", UNAUTHORIZED);
  sendJson(response, 200, {
    access_token: options.tokens.issue({ kind: "delegated", principal: subject, scopes }, TOKEN_SECONDS),
    token_type: "Bearer",
    expires_in: TOKEN_SECONDS,
  });
}
