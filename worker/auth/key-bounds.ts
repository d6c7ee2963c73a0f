/**
 * The OAuth library looks clients and tokens up in KV under keys built from what a request says (`client:<id>`,
 * `token:<user id>:<grant id>:<hash>`), and KV refuses a key over 512 bytes with an error the library does not expect:
 * a 500 on the OAuth endpoints, an empty 503 on MCP (which is neither rate-limited nor audited as a refused token).
 * Nothing the edge issues comes near it (a client id of 16 characters or a metadata document's URL; a token's ids of
 * 64 and 16), so a longer value is refused first, in the words used for one that matches nothing.
 */
export const MAX_LOOKED_UP_BYTES = 400;

/** Whether `value` is too long to be anything the library could look up (absent: not too long). */
export function tooLongToLookUp(value: string | null | undefined): boolean {
  return typeof value === "string" && new TextEncoder().encode(value).length > MAX_LOOKED_UP_BYTES;
}

/** The client id of an HTTP Basic `Authorization` header (RFC 6749 §2.3.1), undefined when there is none. */
export function basicClientId(request: Request): string | undefined {
  const [scheme, encoded] = (request.headers.get("authorization") ?? "").split(" ");
  if (scheme?.toLowerCase() !== "basic" || !encoded) return undefined;
  try {
    return decodeURIComponent(atob(encoded).split(":")[0] ?? "");
  } catch {
    return undefined;
  }
}

/**
 * The request with its bearer token replaced by one that matches nothing when it is too long to look up: the
 * library then refuses it as it refuses any unknown token (401 invalid_token), limited and audited as such.
 */
export function withBoundedBearer(request: Request): Request {
  const [scheme, token] = (request.headers.get("authorization") ?? "").split(" ");
  if (scheme?.toLowerCase() !== "bearer" || !tooLongToLookUp(token)) return request;
  const headers = new Headers(request.headers);
  headers.set("authorization", "Bearer too-long-to-be-a-token");
  return new Request(request, { headers });
}
