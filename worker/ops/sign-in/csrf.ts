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
 * Where a state-changing POST comes from: `same` is the dashboard's own page of this session (its form's token is the
 * session's, and a browser that names the site it came from, Origin, names this edge; SameSite=Lax alone would let a
 * same-site page, another subdomain, post). `changed`: a page of this edge whose form carries a token of the shape
 * this edge writes, but another session's: the page was opened before the session changed (a sign-in or sign-out in
 * another tab). `foreign`: anything else (no token, or another site). Both are refused; they differ only in what the
 * refusal says, and a forged token of the right shape gains nothing but that sentence.
 */
export type FormSource = "same" | "changed" | "foreign";

/** Characters of a token csrfToken writes: base64url of SHA-256, unpadded. */
const TOKEN_SHAPE = /^[\w-]{43}$/;

export async function formSource(request: Request, form: FormData, config: EdgeConfig): Promise<FormSource> {
  const session = readCookie(request, config, "session");
  const given = form.get(CSRF_FIELD);
  if (!session || typeof given !== "string") return "foreign";
  // The pages' no-referrer policy makes a browser send `Origin: null` from them: that names no page, the token decides.
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== "null" && origin !== new URL(config.publicUrl).origin) return "foreign";
  const expected = encoder.encode(await csrfToken(session));
  const actual = encoder.encode(given);
  if (actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected)) return "same";
  return TOKEN_SHAPE.test(given) ? "changed" : "foreign";
}

/** Whether a state-changing POST comes from the dashboard's own page of this session (formSource's `same`). */
export const isSameSessionForm = async (request: Request, form: FormData, config: EdgeConfig): Promise<boolean> =>
  (await formSource(request, form, config)) === "same";

/** Why a form that is not `same` was refused, as the refusal page says it (HTML). */
export const formRefusalReason = (source: Exclude<FormSource, "same">): string =>
  source === "changed"
    ? "Your dashboard session changed since this page was opened (a sign-in or sign-out in another tab), so its form no longer works"
    : "It did not come from this session's page (its security token is missing or wrong)";
