import type { IncomingMessage, ServerResponse } from "node:http";
import { type CryptoKey, SignJWT } from "jose";
import { apiError, sendJson } from "./google-error.ts";
import type { IssuedTokens } from "./issued-tokens.ts";
import { readBody } from "./read-body.ts";

/** `/v1/projects/-/serviceAccounts/<email>:<method>`, the IAM Credentials API's addressing. */
export const IAM_CREDENTIALS_PATH = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):(generateAccessToken|signJwt)$/;
const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";
/** Google refuses lifetimes over an hour unless an organization policy allows 12 hours. */
const MAX_LIFETIME_SECONDS = 3600;

export interface IamCredentialsOptions {
  /** The one service account the federated workload may impersonate. */
  serviceAccount: string;
  tokens: IssuedTokens;
  /** The service account's Google-managed key that signJwt signs with. */
  signingKey: { kid: string; privateKey: CryptoKey };
}

/**
 * The IAM Credentials API for one service account: `generateAccessToken` (impersonation, for a federated STS token)
 * and `signJwt` (for the service account's own token: the first step of domain-wide delegation without a key file).
 */
export async function serveIamCredentials(
  request: IncomingMessage,
  response: ServerResponse,
  options: IamCredentialsOptions,
): Promise<void> {
  const [, encoded = "", method] = IAM_CREDENTIALS_PATH.exec(new URL(request.url ?? "/", "http://fake").pathname) ?? [];
  const email = decodeURIComponent(encoded);
  const caller = options.tokens.fromRequest(request.headers.authorization);
  if (!caller) return apiError(response, 401, "Request had invalid authentication credentials.", "authError");
  if (email !== options.serviceAccount)
    return apiError(response, 404, `Not found; Gaia id not found for email ${email}`, "notFound");
  const body = JSON.parse((await readBody(request)) || "{}") as Record<string, unknown>;
  if (method === "generateAccessToken") {
    // The workload identity pool's principal holds roles/iam.workloadIdentityUser on the service account.
    if (caller.kind !== "sts" || !caller.scopes.includes(CLOUD_PLATFORM))
      return apiError(
        response,
        403,
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        "forbidden",
      );
    return generateAccessToken(response, body, options);
  }
  // The service account holds roles/iam.serviceAccountTokenCreator on itself.
  if (caller.kind !== "service-account" || caller.principal !== email)
    return apiError(
      response,
      403,
      "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).",
      "forbidden",
    );
  return signJwt(response, body, options);
}

function generateAccessToken(response: ServerResponse, body: Record<string, unknown>, options: IamCredentialsOptions) {
  const scopes = Array.isArray(body.scope) ? body.scope.filter((scope): scope is string => typeof scope === "string") : [];
  const lifetime = Number(/^(\d+)s$/.exec(String(body.lifetime ?? "3600s"))?.[1]);
  if (scopes.length === 0) return apiError(response, 400, "Scope required.", "badRequest");
  if (!(lifetime > 0 && lifetime <= MAX_LIFETIME_SECONDS))
    return apiError(response, 400, "The lifetime must be between 1s and 3600s.", "badRequest");
  const accessToken = options.tokens.issue({ kind: "service-account", principal: options.serviceAccount, scopes }, lifetime);
  sendJson(response, 200, { accessToken, expireTime: new Date(Date.now() + lifetime * 1000).toISOString() });
}

async function signJwt(response: ServerResponse, body: Record<string, unknown>, options: IamCredentialsOptions): Promise<void> {
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(String(body.payload));
  } catch {
    return apiError(response, 400, "Invalid JWT payload: not a JSON object.", "badRequest");
  }
  const signedJwt = await new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: options.signingKey.kid, typ: "JWT" })
    .sign(options.signingKey.privateKey);
  sendJson(response, 200, { keyId: options.signingKey.kid, signedJwt });
}
