/** The header's value: a bearer credential in `Authorization`, the bare token in a header of the server's own. */
export function googleHeaderValue(header: string, token: string): string {
  return header.toLowerCase() === "authorization" ? `Bearer ${token}` : token;
}

/**
 * The fetch an HTTP upstream with `googleCredentials` is reached with: the user's Google token in the configured
 * header on every request, renewed when it nears expiry (the cache decides), never any other user's.
 */
export function googleHeaderFetch(token: () => Promise<string>, header: string, send: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set(header, googleHeaderValue(header, await token()));
    return send(input, { ...init, headers });
  };
}
