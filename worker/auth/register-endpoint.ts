import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { edgeOAuth, REGISTER_PATH } from "./authorization-server.ts";
import { oauthError } from "./oauth-error.ts";
import { rateLimited } from "./rate-limit.ts";
import { withLimitedBody } from "./read-limited-body.ts";
import { withSupportedGrantTypes } from "./supported-grant-types.ts";

/**
 * POST /register (RFC 7591): rate-limited per client IP, JSON only, the body bounded while it streams in,
 * grant types the edge does not serve dropped; then the library registers it, under `registrationPolicy`.
 */
export async function handleRegistration(request: Request, env: EdgeEnv, ctx: ExecutionContext): Promise<Response> {
  const config = edgeConfig(env);
  // Refused before it counts: a page of another site can make a browser post text or a form here (no preflight), but
  // not JSON, so what is not JSON must not spend the address's budget (s24 review R3).
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") {
    console.warn(`registration refused: content type ${mediaType || "missing"}`);
    return oauthError(415, "invalid_client_metadata", "Content-Type must be application/json");
  }
  const limited = await rateLimited(request, env, config, REGISTER_PATH);
  if (limited) return limited;
  const buffered = await withLimitedBody(request, config.oauth.maxBodyBytes);
  if (!buffered) {
    console.warn("registration refused: body over the size limit");
    return oauthError(413, "invalid_client_metadata", `registration metadata is larger than ${config.oauth.maxBodyBytes} bytes`);
  }
  const server = edgeOAuth(config).authorizationServer;
  const metadata = parseObject(await buffered.clone().text());
  if (!metadata) return server.fetch(buffered, env, ctx); // the library answers malformed JSON in its own words
  const headers = new Headers(buffered.headers);
  headers.delete("content-length"); // the body changes length; the runtime sets it anew
  const registration = new Request(buffered.url, {
    method: "POST",
    headers,
    body: JSON.stringify(withSupportedGrantTypes(metadata)),
  });
  return server.fetch(registration, env, ctx);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
