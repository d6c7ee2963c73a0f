import type { EdgeConfig } from "../../../contract/config/schema.ts";

/**
 * The edge's browser cookies: the dashboard's signed-in session (an access token), its sign-ins under way (state,
 * verifier, the page asked for), and the sign-ins that end an upstream's consent
 * (worker/upstream-auth/consent-cookie.ts).
 * A sign-in under way has a cookie of its own, named after its state (pending-sign-ins.ts).
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
export function setNamedCookie(config: EdgeConfig, name: string, value: string, maxAgeSeconds: number): string {
  const secure = isHttps(config) ? "; Secure" : "";
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}${secure}`;
}

export const setCookie = (config: EdgeConfig, cookie: OpsCookie, value: string, maxAgeSeconds: number): string =>
  setNamedCookie(config, cookieName(config, cookie), value, maxAgeSeconds);

export const clearCookie = (config: EdgeConfig, cookie: OpsCookie): string => setCookie(config, cookie, "", 0);

/** The request's cookies, name and value, in the order it sent them (empty values left out). */
export function requestCookies(request: Request): [string, string][] {
  return (request.headers.get("cookie") ?? "").split(";").flatMap((pair): [string, string][] => {
    const separator = pair.indexOf("=");
    const value = pair.slice(separator + 1).trim();
    return separator > 0 && value ? [[pair.slice(0, separator).trim(), value]] : [];
  });
}

/** The named cookie's value in the request, if it carries one. */
export const readNamedCookie = (request: Request, name: string): string | undefined =>
  requestCookies(request).find(([cookie]) => cookie === name)?.[1];

/** The cookie's value in the request, if it carries one. */
export const readCookie = (request: Request, config: EdgeConfig, cookie: OpsCookie): string | undefined =>
  readNamedCookie(request, cookieName(config, cookie));
