import { escapeHtml, htmlPage } from "./html.ts";
import { oauthError } from "./oauth-error.ts";

/**
 * How a person makes an app forget this server's registration and register anew: what helps when the proxy no longer
 * knows the app, or knows it under another redirect URI than the app now sends (a stale registration).
 */
export const CLEAR_SAVED_SIGN_IN =
  "remove the server's saved sign-in in the app (in Claude Code /mcp, the server, then Clear authentication; in VS Code Sign out of the server; for mcp-remote the folder ~/.mcp-auth), then connect: the app registers anew.";

/**
 * /authorize for a client_id the edge does not know (its registration expired or was deleted). RFC 6749
 * §4.1.2.1 forbids redirecting to the client then, so:
 * - a caller asking for JSON gets `invalid_client` with the registration endpoint. mcp-remote checks each
 *   authorization URL this way before opening a browser and, on `invalid_client` (older versions: a
 *   `registration_endpoint` with "client … is not registered"), forgets the client and registers again;
 * - a browser gets a page telling the person how to make their app register again.
 * SDK clients re-register on their own only when told at the token endpoint, where the library answers
 * `invalid_client` (401) for an unknown client on every refresh.
 */
export function unknownClient(request: Request, registrationEndpoint: string): Response {
  const accept = request.headers.get("accept") ?? "";
  if (accept.includes("application/json") && !accept.includes("text/html")) {
    console.warn("authorize: unknown client_id (answered invalid_client to a preflight)");
    return oauthError(
      400,
      "invalid_client",
      "Client ID is not registered with this server; register again",
      {},
      {
        registration_endpoint: registrationEndpoint,
      },
    );
  }
  console.warn("authorize: unknown client_id (recovery page shown)");
  return htmlPage(
    "Sign-in failed",
    `<h1>This app needs to connect again</h1>
<p>Its registration with your company's MCP proxy has expired or was removed, so the proxy no longer knows it.</p>
<p>Go back to the app and connect to the server again. If it sends you here again, ${escapeHtml(CLEAR_SAVED_SIGN_IN)}</p>`,
    { status: 400 },
  );
}
