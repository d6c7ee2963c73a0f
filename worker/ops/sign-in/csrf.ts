import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { readCookie } from "./cookies.ts";

/** The hidden form field that carries the token. */
export const CSRF_FIELD = "csrf";

const encoder = new TextEncoder();

/**
 * The session's CSRF token: a SHA-256 of the session's access token (HttpOnly, so no other site and no script can
 * read it, nor compute this), one per session and nothing to store. Every form that changes something carries it.
 */
export async function csrfToken(sessionToken: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`mcp-ops-csrf\u0000${sessionToken}`));
  return btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * Whether a state-changing POST comes from the dashboard's own page: its form's token is the session's, and a
 * browser that names the site it came from (Origin) names this edge. SameSite=Lax alone would let a same-site page
 * (another subdomain) post.
 */
export async function isSameSessionForm(request: Request, form: FormData, config: EdgeConfig): Promise<boolean> {
  const session = readCookie(request, config, "session");
  const given = form.get(CSRF_FIELD);
  if (!session || typeof given !== "string") return false;
  // The pages' no-referrer policy makes a browser send `Origin: null` from them: that names no page, the token decides.
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== "null" && origin !== new URL(config.publicUrl).origin) return false;
  const expected = encoder.encode(await csrfToken(session));
  const actual = encoder.encode(given);
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected);
}
