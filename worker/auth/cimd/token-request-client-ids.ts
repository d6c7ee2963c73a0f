import { decodeJwt } from "jose";

/** A token-endpoint request as the client-ID guard reads it: every client ID it names, or the parameter it repeats. */
export type TokenRequestClients = { ids: string[] } | { repeated: string };

/**
 * Every client ID a token-endpoint request names, in each place the library reads one: the `client_id` field, the
 * Basic credentials' user (RFC 6749 §2.3.1, form-encoded), and a client assertion's `iss` and `sub` (RFC 7523;
 * a CIMD client using private_key_jwt may omit `client_id`). The assertion is only decoded here, not trusted.
 * One of them sent twice is reported instead (RFC 6749 §3.2 forbids it): the guard and the library could otherwise
 * read different values of it (an empty first `client_id` hid a second one from the guard).
 */
export async function tokenRequestClientIds(request: Request): Promise<TokenRequestClients> {
  const ids = [basicAuthUser(request.headers.get("authorization"))];
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (request.method === "POST" && mediaType === "application/x-www-form-urlencoded") {
    // Bytes, decoded here: the runtime warns on every `.text()` of a body whose type is not text.
    const form = new URLSearchParams(new TextDecoder().decode(await request.clone().arrayBuffer()));
    const repeated = CLIENT_PARAMETERS.find((name) => form.getAll(name).length > 1);
    if (repeated !== undefined) return { repeated };
    ids.push(form.get("client_id"), ...assertionIssuers(form.get("client_assertion")));
  }
  return { ids: ids.filter((id): id is string => typeof id === "string" && id !== "") };
}

/** The form fields that name the client. Others may repeat where a specification allows it (RFC 8707's `resource`). */
const CLIENT_PARAMETERS = ["client_id", "client_assertion"] as const;

function basicAuthUser(header: string | null): string | null {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? "")?.[1];
  if (!encoded) return null;
  try {
    const user = atob(encoded).split(":")[0] ?? "";
    return decodeURIComponent(user.replace(/\+/g, " "));
  } catch {
    return null;
  }
}

function assertionIssuers(assertion: string | null): (string | null)[] {
  if (!assertion) return [];
  try {
    const claims = decodeJwt(assertion);
    return [claims.iss ?? null, claims.sub ?? null];
  } catch {
    return [];
  }
}
