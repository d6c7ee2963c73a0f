import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { EdgeEnv } from "../env.ts";
import { addressKey } from "../http/address-key.ts";
import { unreadableCrossSite } from "../http/fetch-metadata.ts";
import { oauthError } from "./oauth-error.ts";

/** The authorization endpoints limited per client IP, and the setting that gives each its limit. */
const LIMITS = {
  "/oauth/token": (config) => config.oauth.tokenRequestsPerMinute,
  "/authorize": (config) => config.oauth.authorizeRequestsPerMinute,
  "/register": (config) => config.oauth.registrationsPerMinute,
} as const satisfies Record<string, (config: EdgeConfig) => number>;

export type LimitedEndpoint = keyof typeof LIMITS;

/**
 * Counts this request against its client IP's limit for `endpoint`. Returns the 429 to send, or null to go on.
 * The IP is Cloudflare's `cf-connecting-ip`, which a client cannot set; a request without it did not come
 * through Cloudflare's edge (tests, a service binding) and is not limited. A request a page of another site made the
 * browser send, whose answer nobody can read, is refused first and counts nothing (fetch-metadata.ts).
 */
export async function rateLimited(
  request: Request,
  env: EdgeEnv,
  config: EdgeConfig,
  endpoint: LimitedEndpoint,
): Promise<Response | null> {
  if (unreadableCrossSite(request, endpoint === "/authorize")) return unreadableRefusal(endpoint);
  const ip = request.headers.get("cf-connecting-ip");
  if (!ip) return null;
  const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`ip:${addressKey(ip)}`));
  const decision = await limiter.take(endpoint, LIMITS[endpoint](config));
  if (decision.allowed) return null;
  console.warn(`rate limit: ${endpoint} refused for a client IP over its limit`);
  const retryAfter = { "retry-after": String(decision.retryAfterSeconds) };
  // OAuth clients read JSON errors on the token and registration endpoints; a browser on /authorize reads text.
  if (endpoint === "/authorize") {
    return new Response("Too many sign-in attempts from your network. Wait a minute and try again.\n", {
      status: 429,
      headers: { ...retryAfter, "content-type": "text/plain; charset=utf-8" },
    });
  }
  return oauthError(429, "temporarily_unavailable", "too many requests from this address; retry later", retryAfter);
}

/** The refusal of a request sent so that no one can read its answer (no count is taken: see rateLimited). */
function unreadableRefusal(endpoint: LimitedEndpoint): Response {
  console.warn(`${endpoint}: refused a cross-site request whose answer no one could read (an image, a frame, a no-cors fetch)`);
  if (endpoint === "/authorize") {
    return new Response("Open this sign-in address as a page of its own, not inside another page.\n", {
      status: 400,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return oauthError(400, "invalid_request", "a no-cors request cannot read the answer: send it as an ordinary (CORS) request");
}
