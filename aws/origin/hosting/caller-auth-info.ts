import type { AuthInfo } from "@modelcontextprotocol/server";
import type { Caller } from "./upstream-host.ts";

/**
 * The caller as the SDK handler's auth info: request states are bound to its user and server (request-state.ts), and
 * the forwarding server reads what the policy lets it do. Every host hands over the same, so states carry over
 * between a consent host and the connected host that replaces it.
 */
export const authInfoOf = (caller: Caller): AuthInfo => ({
  token: "",
  clientId: caller.clientId,
  scopes: [],
  extra: {
    sub: caller.sub,
    email: caller.email,
    server: caller.server,
    access: caller.access,
    aggregated: caller.aggregated,
    era: caller.era,
  },
});
