import type { ClientRegistrationCallbackOptions, ClientRegistrationCallbackResult } from "@cloudflare/workers-oauth-provider";
import { isLoopbackHost } from "../../contract/loopback-host.ts";
import { OPS_PATH } from "../ops/paths.ts";
import { OWN_CLIENT_NAMES } from "./own-client-names.ts";

/** Bounds on what one dynamic registration may store: it costs nothing to send and is kept for days. */
export const REGISTRATION_LIMITS = {
  /** Top-level metadata fields. */
  fields: 30,
  /** Entries of any list (`redirect_uris`, `contacts`, `grant_types`, ...). */
  listEntries: 10,
  /** Characters of `client_name`, shown on the consent page. */
  clientName: 100,
  /** Characters of any other string (a redirect URI, a logo URL). */
  text: 2000,
} as const;

/**
 * The edge's policy on dynamic registrations (the library's `clientRegistrationCallback`): refuses metadata
 * with too many fields, lists too long or strings too long, naming the field, and redirect URIs into the edge's own
 * /ops. Returns nothing to allow.
 */
export function registrationPolicy({
  clientMetadata,
  request,
}: ClientRegistrationCallbackOptions): ClientRegistrationCallbackResult | undefined {
  const problem =
    metadataProblem(clientMetadata) ??
    clientNameProblem(clientMetadata.client_name) ??
    ownNameProblem(clientMetadata.client_name) ??
    redirectKindProblem(clientMetadata.redirect_uris) ??
    opsRedirectProblem(clientMetadata.redirect_uris, new URL(request.url).origin);
  if (!problem) return undefined;
  console.warn(`registration refused: ${problem}`);
  return { code: "invalid_client_metadata", description: problem, status: 400 };
}

/**
 * A client name shown on the consent page may hold no control or format characters (Unicode Cc and Cf: bidi overrides,
 * zero-width spaces): they make "Claude" appear while the name check sees another word, and reorder the page's heading
 * (s24 hunt pages F12). No honest app name needs one. Checked at registration and, for a client whose metadata document
 * the library fetched (no registration), at /authorize.
 */
export function clientNameProblem(name: unknown): string | null {
  if (typeof name !== "string" || !/[\p{Cc}\p{Cf}]/u.test(name)) return null;
  return "client_name may not contain control or invisible formatting characters (such as bidirectional overrides or zero-width spaces)";
}

/**
 * Another client may not take the name of one of the edge's own sign-ins (s24 hunt pages F3: it would read as the
 * proxy's own wherever a name is listed). Checked where `clientNameProblem` is, for every client but those.
 */
export function ownNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return null;
  const taken = (own: string) => nameSkeleton(own) === nameSkeleton(name);
  return OWN_CLIENT_NAMES.some(taken) ? "client_name is the name of one of this proxy's own sign-ins" : null;
}

/**
 * A name as a reader takes it in: compatibility forms folded (NFKD: full-width letters), accents and case dropped,
 * punctuation and spacing ignored. Look-alike letters of other scripts (Cyrillic "о") are not folded; no table here.
 */
const nameSkeleton = (name: string): string =>
  name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, "");

function metadataProblem(metadata: Record<string, unknown>): string | null {
  const fields = Object.keys(metadata);
  if (fields.length > REGISTRATION_LIMITS.fields) return `at most ${REGISTRATION_LIMITS.fields} metadata fields are accepted`;
  for (const field of fields) {
    const problem = valueProblem(
      field,
      metadata[field],
      field === "client_name" ? REGISTRATION_LIMITS.clientName : REGISTRATION_LIMITS.text,
    );
    if (problem) return problem;
  }
  return null;
}

function valueProblem(field: string, value: unknown, maxChars: number): string | null {
  if (typeof value === "string") return value.length > maxChars ? `${field} is longer than ${maxChars} characters` : null;
  if (Array.isArray(value)) {
    if (value.length > REGISTRATION_LIMITS.listEntries)
      return `${field} has more than ${REGISTRATION_LIMITS.listEntries} entries`;
    for (const entry of value) {
      const problem = valueProblem(field, entry, maxChars);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === "object" && value !== null) {
    for (const [key, entry] of Object.entries(value)) {
      const problem = valueProblem(`${field}.${key}`, entry, maxChars);
      if (problem) return problem;
    }
  }
  return null;
}

/**
 * Why a client may not be sent to this redirect URI, by the rules `/register` applies to every URI it registers, or
 * null. A client known by its metadata document is never registered: /authorize holds the URI it uses to them.
 */
export function redirectUriProblem(redirectUri: string, edgeOrigin: string): string | null {
  return redirectKindProblem([redirectUri]) ?? opsRedirectProblem([redirectUri], edgeOrigin);
}

/**
 * Schemes that cannot be an app's own callback: a code sent there is read by whoever serves it, or by nobody. (The
 * library refuses javascript:, data:, file: and vbscript: itself.) A native app's own scheme (`cursor://…`) is allowed,
 * as RFC 8252 §7.1 has it.
 */
const NOT_A_CALLBACK = new Set([
  ...["ftp:", "about:", "urn:", "ws:", "wss:", "blob:", "mailto:", "tel:", "sms:"],
  // Schemes that hand a web address to a browser (Windows' Edge, iOS' Safari and Chrome, Android intents): a code or
  // an error sent there lands on whatever site the URI names, not on an app of this computer (s25 review F1).
  ...["microsoft-edge:", "microsoft-edge-holographic:", "x-safari-http:", "x-safari-https:", "googlechrome:"],
  ...["googlechromes:", "firefox:", "opera-http:", "opera-https:", "brave:", "intent:", "x-web-search:"],
]);

/**
 * A redirect URI is HTTPS, a loopback address over plain HTTP, or a native app's own scheme (MCP authorization,
 * "redirect URIs MUST be either localhost URLs or HTTPS URLs"; RFC 8252 for native apps): plain HTTP to another host
 * would carry the authorization code across the network in the clear, to whoever answers that name.
 */
function redirectKindProblem(redirectUris: unknown): string | null {
  for (const uri of Array.isArray(redirectUris) ? redirectUris : []) {
    if (typeof uri !== "string" || !URL.canParse(uri)) continue;
    const url = new URL(uri);
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname))
      return `redirect_uris: ${uri} is plain HTTP to another host than this computer; use https, or a loopback address (127.0.0.1, localhost)`;
    if (NOT_A_CALLBACK.has(url.protocol))
      return `redirect_uris: ${uri} is not a place an app receives its sign-in; use https, a loopback address, or the app's own scheme`;
  }
  return null;
}

/**
 * A client's redirect URI never leads into the ops dashboard: the edge sends a browser there (with a code, or after
 * Deny), a navigation that starts on the edge's consent page, so the browser calls it same-origin and /ops would take
 * it for one of its own. (Only /ops: a native app may register a loopback URI that is also `npm start`'s address.)
 * `edgeOrigin` is the origin the registration came to: the edge answers on its public URL only (workers_dev = false).
 */
function opsRedirectProblem(redirectUris: unknown, edgeOrigin: string): string | null {
  for (const uri of Array.isArray(redirectUris) ? redirectUris : []) {
    // A URI that does not parse is the library's to refuse, in its own words.
    if (typeof uri !== "string" || !URL.canParse(uri)) continue;
    const url = new URL(uri);
    // Decoded as the router decodes it: /%6Fps is /ops.
    if (url.origin === edgeOrigin && safelyDecoded(url.pathname).startsWith(OPS_PATH))
      return `redirect_uris: ${uri} leads into this proxy's ops dashboard; a client's redirect URI must be the client's own`;
  }
  return null;
}

const safelyDecoded = (path: string): string => {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
};
