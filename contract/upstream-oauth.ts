/**
 * What the edge and the origin agree on for upstream OAuth (docs/upstream-credentials.md): the browser returns from an
 * upstream's consent to the edge, which hands code and state to the origin; the edge also serves the origin's Client ID
 * Metadata Document, because an upstream's authorization server on the internet cannot reach the origin in its VPC.
 */

/** The prefix of the edge's public routes where upstream authorization servers send the browser back. */
export const UPSTREAM_OAUTH_CALLBACK_PATH = "/upstream-oauth/callback";

/**
 * The redirect URI's path for one server: each server's authorization comes back to a path of its own, and a state is
 * completed only for the server whose path it came back to. With one shared path, a malicious server's authorization
 * server could send the browser on to an honest server's, and have the honest server's code, with the verifier, posted
 * to its own token endpoint (a mix-up attack, RFC 9700 §4.4).
 */
export const upstreamCallbackPath = (server: string): string => `${UPSTREAM_OAUTH_CALLBACK_PATH}/${encodeURIComponent(server)}`;

/** The prefix of the edge's public routes serving the origin's Client ID Metadata Documents (`cimd` registration). */
export const UPSTREAM_OAUTH_CLIENT_METADATA_PATH = "/upstream-oauth/client-metadata";

/**
 * One server's Client ID Metadata Document (its URL is the client id): one per server, each naming only that server's
 * redirect URI, so that an authorization server accepts a code's return only at the callback of the server it was
 * asked for. One document listing every callback would let a mix-up through (see `upstreamCallbackPath`).
 */
export const upstreamClientMetadataPath = (server: string): string =>
  `${UPSTREAM_OAUTH_CLIENT_METADATA_PATH}/${encodeURIComponent(server)}.json`;

/** The origin's route that completes an authorization (edge assertion with purpose `upstream-oauth`). */
export const UPSTREAM_OAUTH_COMPLETE_PATH = "/upstream-oauth/complete";

/** What the edge relays from the browser's return: the authorization response's parameters, unread. */
export interface UpstreamOAuthReturn {
  /** The server whose redirect URI the browser came back to. */
  server: string;
  state: string;
  code?: string;
  iss?: string;
  error?: string;
  error_description?: string;
}

/** The origin's answer: which connection was completed (to show the user), or why not. */
export type UpstreamOAuthOutcome = { ok: true; server: string; email?: string } | { ok: false; message: string };

/** The origin's Client ID Metadata Document for one server, as the edge serves it. */
export function upstreamClientMetadata(publicUrl: string, clientName: string, server: string): Record<string, unknown> {
  return {
    client_id: `${publicUrl}${upstreamClientMetadataPath(server)}`,
    client_name: clientName,
    client_uri: publicUrl,
    redirect_uris: [`${publicUrl}${upstreamCallbackPath(server)}`],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
}
