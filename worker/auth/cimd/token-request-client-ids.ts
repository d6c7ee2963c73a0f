import { decodeJwt } from "jose";

/**
 * A token-endpoint request as the client-ID guard reads it: every client ID it names, or the parameter it repeats, or
 * the credentials it could not read (refused: the library decodes more leniently, and would read a client ID there).
 */
export type TokenRequestClients = { ids: string[] } | { repeated: string } | { unreadable: string };

/**
 * Every client ID a token-endpoint request names, in each place the library reads one: the `client_id` field, the
 * Basic credentials' user (RFC 6749 §2.3.1, form-encoded), and a client assertion's `iss` and `sub` (RFC 7523;
 * a CIMD client using private_key_jwt may omit `client_id`). The assertion is only decoded here, not trusted.
 * One of them sent twice is reported instead (RFC 6749 §3.2 forbids it): the guard and the library could otherwise
 * read different values of it (an empty first `client_id` hid a second one from the guard). So are Basic credentials
 * or an assertion this strict reading cannot decode: the library's own reading accepts standard base64 and invalid
 * UTF-8, and found a client ID the guard never saw.
 */
export async function tokenRequestClientIds(request: Request): Promise<TokenRequestClients> {
  const basic = basicAuthUser(request.headers.get("authorization"));
  if (basic === UNREADABLE) return { unreadable: BASIC_CREDENTIALS };
  const ids = [basic];
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (request.method === "POST" && mediaType === "application/x-www-form-urlencoded") {
    // Bytes, decoded here: the runtime warns on every `.text()` of a body whose type is not text.
    const form = new URLSearchParams(new TextDecoder().decode(await request.clone().arrayBuffer()));
    const repeated = CLIENT_PARAMETERS.find((name) => form.getAll(name).length > 1);
    if (repeated !== undefined) return { repeated };
    const issuers = assertionIssuers(form.get("client_assertion"));
    if (issuers === UNREADABLE) return { unreadable: "the client_assertion (not a JWT: base64url parts, JSON claims)" };
    ids.push(form.get("client_id"), ...issuers);
  }
  return { ids: ids.filter((id): id is string => typeof id === "string" && id !== "") };
}

/** What the refusal of unreadable Basic credentials names. */
const BASIC_CREDENTIALS = "the Basic credentials";

/** The form fields that name the client. Others may repeat where a specification allows it (RFC 8707's `resource`). */
const CLIENT_PARAMETERS = ["client_id", "client_assertion"] as const;

const UNREADABLE = Symbol("unreadable");

/** The user of Basic credentials, found where the library finds the scheme: up to the first space or tab. */
function basicAuthUser(header: string | null): string | null | typeof UNREADABLE {
  const scheme = /^[^ \t]*/.exec(header ?? "")?.[0] ?? "";
  if (scheme.toLowerCase() !== "basic") return null;
  const encoded = (header ?? "").slice(scheme.length).trim();
  try {
    const credentials = atob(encoded);
    if (!encoded || /[ \t]/.test(encoded) || !credentials.includes(":")) return UNREADABLE;
    return decodeURIComponent((credentials.split(":")[0] ?? "").replace(/\+/g, " "));
  } catch {
    return UNREADABLE;
  }
}

function assertionIssuers(assertion: string | null): (string | null)[] | typeof UNREADABLE {
  if (!assertion) return [];
  try {
    const claims = decodeJwt(assertion);
    return [claims.iss ?? null, claims.sub ?? null];
  } catch {
    return UNREADABLE;
  }
}
