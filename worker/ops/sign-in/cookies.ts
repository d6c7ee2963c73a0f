import type { EdgeConfig } from "../../../contract/config/schema.ts";

/**
 * The edge's browser cookies: the dashboard's signed-in session (an access token) and its sign-in under way (state,
 * verifier), and the sign-in that ends an upstream's consent (worker/upstream-auth/consent-cookie.ts).
 */
export type OpsCookie = "session" | "sign-in" | "upstream-consent";

const NAMES: Record<OpsCookie, string> = {
  session: "mcp-ops",
  "sign-in": "mcp-ops-sign-in",
  "upstream-consent": "mcp-upstream-consent",
};

// `__Host-` pins a cookie to this host, https and Path=/. A browser refuses Secure cookies from plain http, so on the
// loopback http of `npm start` the cookie goes without both (nothing else can listen on that address anyway).
const isHttps = (config: EdgeConfig) => config.publicUrl.startsWith("https:");

export const cookieName = (config: EdgeConfig, cookie: OpsCookie): string =>
  isHttps(config) ? `__Host-${NAMES[cookie]}` : NAMES[cookie];

/** A Set-Cookie value: HttpOnly (no script reads it), SameSite=Lax (sent on the top-level return from sign-in). */
export function setCookie(config: EdgeConfig, cookie: OpsCookie, value: string, maxAgeSeconds: number): string {
  const secure = isHttps(config) ? "; Secure" : "";
  return `${cookieName(config, cookie)}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}${secure}`;
}

export const clearCookie = (config: EdgeConfig, cookie: OpsCookie): string => setCookie(config, cookie, "", 0);

/** The cookie's value in the request, if it carries one. */
export function readCookie(request: Request, config: EdgeConfig, cookie: OpsCookie): string | undefined {
  const name = cookieName(config, cookie);
  for (const pair of (request.headers.get("cookie") ?? "").split(";")) {
    const separator = pair.indexOf("=");
    if (separator > 0 && pair.slice(0, separator).trim() === name) return pair.slice(separator + 1).trim() || undefined;
  }
  return undefined;
}
