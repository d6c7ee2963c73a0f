/**
 * The registered names of the edge's own browser sign-ins. A module of its own, importing nothing: the registration
 * rule reads them, and the clients' own modules sit in an import cycle with the authorization server (s25 review F11).
 */
export const OPS_CLIENT_NAME = "Ops dashboard of this MCP proxy";
export const CONSENT_CLIENT_NAME = "Connect your account at a server (this MCP proxy)";

export const OWN_CLIENT_NAMES: readonly string[] = [OPS_CLIENT_NAME, CONSENT_CLIENT_NAME];
