import { base64url } from "jose";

/**
 * The facts of the sentence said after a decision or a revocation ("Approved: …", "Signed … out everywhere") travel
 * in the redirect's query sealed (AES-256-GCM, keyed from the caller's sealing secret, the page as associated data), and
 * the page shows them only when they open. Sealed rather than signed because the facts name people (the e-mail
 * address signed out, the user whose connection was revoked) and a URL is written down where a form's body is not:
 * Cloudflare's request logs, the browser's history. Only this session's own POST can seal: a link crafted elsewhere
 * cannot put words on an administrator's screen. Fetch Metadata could not tell: the edge itself sends a browser to any
 * redirect URI a client registered, one into /ops included, and a browser calls that navigation same-origin.
 */
const NOTICE = "notice";

const IV_BYTES = 12;

const encoder = new TextEncoder();

// A key of its own, not the secret itself: a CSRF token also travels in the page's forms.
const keyOf = async (sealingSecret: string) =>
  crypto.subtle.importKey(
    "raw",
    await crypto.subtle.digest("SHA-256", encoder.encode(`ops-notice\0${sealingSecret}`)),
    { name: "AES-GCM" },
    false,
    ["encrypt", "decrypt"],
  );

// The page is bound to the facts, so that one page's sentence does not show on another.
const sealedFor = (page: string, iv: Uint8Array<ArrayBuffer>) => ({
  name: "AES-GCM",
  iv,
  additionalData: encoder.encode(page),
});

/**
 * Where a POST sends the browser back to `page`, with the facts of its sentence sealed under `sealingSecret`: what only
 * the sealer holds (the session's CSRF token for the dashboard's pages, so only this session's POST seals; a key of the
 * edge's signing key for the end of an upstream connection, so only this edge seals).
 */
export async function noticeLocation(sealingSecret: string, page: string, facts: Record<string, string>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    sealedFor(page, iv),
    await keyOf(sealingSecret),
    encoder.encode(JSON.stringify(facts)),
  );
  const bytes = new Uint8Array(IV_BYTES + sealed.byteLength);
  bytes.set(iv);
  bytes.set(new Uint8Array(sealed), IV_BYTES);
  return `${page}?${new URLSearchParams({ [NOTICE]: base64url.encode(bytes) })}`;
}

/**
 * The facts in the request's query when this session sealed them for `page`; nothing for a query without them, with
 * anything else in it (a redirect that appends `error=…` included), or with facts that do not open.
 */
export async function noticeFacts(
  request: Request,
  sealingSecret: string,
  page: string,
): Promise<Record<string, string> | undefined> {
  const query = [...new URLSearchParams(new URL(request.url).search)];
  const [only] = query;
  if (query.length !== 1 || only?.[0] !== NOTICE) return undefined;
  try {
    const bytes = new Uint8Array(base64url.decode(only[1]));
    const iv = bytes.slice(0, IV_BYTES);
    const opened = await crypto.subtle.decrypt(sealedFor(page, iv), await keyOf(sealingSecret), bytes.slice(IV_BYTES));
    const facts: unknown = JSON.parse(new TextDecoder().decode(opened));
    return stringFacts(facts);
  } catch {
    // Not base64url, too short, or sealed by another session or for another page: no sentence.
    return undefined;
  }
}

const stringFacts = (facts: unknown): Record<string, string> | undefined =>
  typeof facts === "object" && facts !== null && Object.values(facts).every((value) => typeof value === "string")
    ? (facts as Record<string, string>)
    : undefined;
