import { base64url } from "jose";

/**
 * The facts of the sentence said after a decision or a revocation ("Approved: …", "Revoked …") travel in the
 * redirect's query, signed (HMAC-SHA-256) with the session's CSRF token, and the page shows them only when the
 * signature holds. Only this session's own POST can sign: a link crafted elsewhere cannot put words on an
 * administrator's screen. Fetch Metadata could not tell: the edge itself sends a browser to any redirect URI a client
 * registered, one into /ops included, and a browser calls that navigation same-origin.
 */
const SIGNATURE = "signed";

const encoder = new TextEncoder();

const keyOf = (csrf: string) =>
  crypto.subtle.importKey("raw", encoder.encode(csrf), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);

// The page is signed with the facts, so that one page's sentence does not show on another; the facts in name order,
// so that both sides read the same bytes whatever order the query lists them in.
const signedBytes = (page: string, facts: [string, string][]) =>
  encoder.encode(JSON.stringify([page, facts.toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]));

/** Where a POST sends the browser back to `page`, with the facts of its sentence signed for this session. */
export async function noticeLocation(csrf: string, page: string, facts: Record<string, string>): Promise<string> {
  const entries = Object.entries(facts);
  const signature = await crypto.subtle.sign("HMAC", await keyOf(csrf), signedBytes(page, entries));
  return `${page}?${new URLSearchParams([...entries, [SIGNATURE, base64url.encode(new Uint8Array(signature))]])}`;
}

/**
 * The facts in the request's query when this session signed them for `page`; nothing for a query without a
 * signature, with a wrong one, or with anything added or changed since (a redirect that appends `error=…` included).
 */
export async function noticeFacts(request: Request, csrf: string, page: string): Promise<Record<string, string> | undefined> {
  const query = new URLSearchParams(new URL(request.url).search);
  const signature = query.get(SIGNATURE);
  if (signature === null || query.getAll(SIGNATURE).length > 1) return undefined;
  query.delete(SIGNATURE);
  const entries = [...query.entries()];
  let given: Uint8Array<ArrayBuffer>;
  try {
    given = new Uint8Array(base64url.decode(signature));
  } catch {
    return undefined;
  }
  const holds = await crypto.subtle.verify("HMAC", await keyOf(csrf), given, signedBytes(page, entries));
  return holds ? Object.fromEntries(entries) : undefined;
}
