/** MCP headers a browser-based client (the MCP Inspector) must be able to read from a cross-origin answer. */
const EXPOSED = ["WWW-Authenticate", "Retry-After", "Mcp-Session-Id", "Mcp-Protocol-Version"];

/**
 * Finishes an MCP answer for browser clients: the session and version headers are readable cross-origin, and a
 * 401 says in its body what happened (some clients only start their sign-in flow on a JSON error body).
 */
export async function forBrowsers(response: Response): Promise<Response> {
  const exposes = response.headers.has("access-control-expose-headers");
  const emptyChallenge = response.status === 401 && !(await hasBody(response));
  if (!exposes && !emptyChallenge) return response;
  const body = emptyChallenge
    ? JSON.stringify({ error: "invalid_token", error_description: whyRefused(response) })
    : response.body;
  const answer = new Response(body, response);
  if (exposes) answer.headers.set("access-control-expose-headers", EXPOSED.join(", "));
  if (emptyChallenge) answer.headers.set("content-type", "application/json");
  return answer;
}

/** What the challenge says went wrong: no token, or one that does not open this address (RFC 6750 §3.1). */
function whyRefused(response: Response): string {
  const challenge = response.headers.get("www-authenticate") ?? "";
  if (!/\berror="invalid_token"/.test(challenge)) return "sign in: this MCP server requires an OAuth access token";
  return "the access token does not open this address: it expired, was revoked, or was issued for another one (a token for /mcp/<server> does not open /mcp, nor another server's); sign in again for this address";
}

async function hasBody(response: Response): Promise<boolean> {
  if (!response.body) return false;
  return (await response.clone().text()).length > 0;
}
