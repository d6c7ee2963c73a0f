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

/** A bearer token as the library reads it (`Bearer`, spaces or tabs, the token). */
const BEARER = /^Bearer[\t ]+([^\s,]+)$/i;

/**
 * The request with its bearer token replaced by one that matches nothing when it is too long to look up: the
 * library then refuses it as it refuses any unknown token (401 invalid_token), limited and audited as such.
 */
export function withBoundedBearer(request: Request): Request {
  const token = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
  if (!tooLongToLookUp(token)) return request;
  const headers = new Headers(request.headers);
  headers.set("authorization", "Bearer too-long-to-be-a-token");
  return new Request(request, { headers });
}
