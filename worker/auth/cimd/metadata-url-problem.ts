import ipaddr from "ipaddr.js";

/**
 * Why the edge will not fetch this client ID as a Client ID Metadata Document, or null when it may (or when the
 * client ID is a registered client's opaque id, not a URL). The edge fetches what a stranger names, so a URL may
 * not point it at its own network (SSRF): no plain http, no `localhost`, no single-label intranet name, and no IP
 * literal outside public unicast space (private, loopback, link-local, unique-local, CGNAT, reserved, multicast,
 * and IPv4-mapped forms of those). Host names are not resolved here (a Worker cannot resolve DNS itself): a name
 * that resolves to a private address is left to Cloudflare's egress, which reaches only the public internet
 * (`global_fetch_strictly_public`). `allowedHosts` exempts exact host names from the address rule, for local
 * development and tests (`oauth.cimdAllowedHosts`); https is still required of them.
 */
export function metadataUrlProblem(clientId: string, allowedHosts: readonly string[]): string | null {
  if (!/^https?:\/\//i.test(clientId)) return null;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return "the client ID looks like a URL but is not a valid one";
  }
  if (url.protocol !== "https:") return "a client ID metadata document URL must use https";
  const host = url.hostname.toLowerCase();
  if (allowedHosts.includes(host)) return null;
  return hostProblem(host);
}

function hostProblem(host: string): string | null {
  const literal = host.startsWith("[") ? host.slice(1, -1) : host;
  if (ipaddr.isValid(literal)) {
    // process() turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) back into the IPv4 address it reaches.
    const address = ipaddr.process(literal);
    const range = address.range();
    if (range !== "unicast") return `the client ID's host is an IP address in a ${range} range, which the edge never fetches`;
    // The deprecated IPv4-compatible form (::127.0.0.1, ::7f00:1; RFC 4291 §2.5.5.1), which ipaddr.js calls unicast:
    // a stack that still honours it reaches the IPv4 address inside.
    if (address.kind() === "ipv6" && (address as ipaddr.IPv6).parts.slice(0, 6).every((part) => part === 0)) {
      return "the client ID's host is an IPv4-compatible IPv6 address, which the edge never fetches";
    }
    return null;
  }
  const name = host.replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost"))
    return "the client ID's host is localhost, which the edge never fetches";
  if (!name.includes(".")) return "the client ID's host is a single-label (intranet) name, which the edge never fetches";
  return null;
}
