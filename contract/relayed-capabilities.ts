/** The server capabilities the proxy relays, each with the methods that serve it. */
export const RELAYED_CAPABILITIES = ["tools", "prompts", "resources", "completions", "logging"] as const;

type Capabilities = Partial<Record<(typeof RELAYED_CAPABILITIES)[number], unknown>> & Record<string, unknown>;

/**
 * What a client is told an upstream can do through the proxy: its capabilities among those the proxy relays.
 * Extensions and experimental capabilities are dropped, because their methods are not forwarded. Both tiers
 * advertise through this one function: the origin on the hop, the edge to a 2025-era client.
 */
export function relayedCapabilities<C extends Capabilities>(upstream: C): Partial<C> {
  const relayed: Partial<C> = {};
  for (const name of RELAYED_CAPABILITIES) if (upstream[name]) (relayed as Record<string, unknown>)[name] = upstream[name];
  return relayed;
}
