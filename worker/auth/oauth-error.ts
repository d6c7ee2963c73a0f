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
