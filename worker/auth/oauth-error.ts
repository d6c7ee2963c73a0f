/** An OAuth error answer (RFC 6749 §5.2): JSON, never cached; `extra` adds members such as `registration_endpoint`. */
export function oauthError(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
  extra: Record<string, string> = {},
): Response {
  return Response.json(
    { error, error_description: description, ...extra },
    { status, headers: { "cache-control": "no-store", pragma: "no-cache", ...headers } },
  );
}

/**
 * A refusal of the client itself (RFC 6749 §5.2: 401 `invalid_client`), with the `WWW-Authenticate` challenge the RFC
 * requires when the client authenticated with Basic credentials (the scheme read as the library reads it: up to the
 * first space or tab).
 */
export function clientRefused(request: Request, description: string): Response {
  const basic = /^basic(?:[ \t]|$)/i.test(request.headers.get("authorization") ?? "");
  return oauthError(401, "invalid_client", description, basic ? { "www-authenticate": 'Basic realm="OAuth"' } : {});
}
