import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/**
 * How far inside the network an address is. The origin runs inside a VPC, beside the instance metadata service, the
 * ECS credentials endpoint, its sidecars and its database: a URL an upstream hands it (its authorization server, the
 * token and registration endpoints in that server's metadata) must not take its requests further in than the
 * upstream itself is.
 */
export const Reach = {
  Public: 0,
  /** RFC 1918, shared address space (RFC 6598), unique local IPv6. */
  Private: 1,
  Loopback: 2,
  /** Link-local (the metadata and credentials endpoints), "this network": never a target. */
  Never: 3,
} as const;
export type Reach = (typeof Reach)[keyof typeof Reach];

const subnets = (entries: readonly [string, number, "ipv4" | "ipv6"][]) => {
  const list = new BlockList();
  for (const [network, prefix, family] of entries) list.addSubnet(network, prefix, family);
  return list;
};

const NEVER = subnets([
  ["169.254.0.0", 16, "ipv4"],
  ["0.0.0.0", 8, "ipv4"],
  ["fe80::", 10, "ipv6"],
  ["fd00:ec2::", 32, "ipv6"],
  // "::" itself, IPv4-compatible (::a9fe:a9fe) and IPv4-translated (::ffff:0:a9fe:a9fe) forms: whatever IPv4 address
  // they carry is reached, so none is a target.
  ["::", 96, "ipv6"],
  ["::ffff:0:0:0", 96, "ipv6"],
]);
const LOOPBACK = subnets([
  ["127.0.0.0", 8, "ipv4"],
  ["::1", 128, "ipv6"],
]);
const PRIVATE = subnets([
  ["10.0.0.0", 8, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["fc00::", 7, "ipv6"],
  // NAT64 (64:ff9b::a9fe:a9fe): a NAT gateway translates it to the IPv4 address it carries, private ones included.
  ["64:ff9b::", 96, "ipv6"],
  ["64:ff9b:1::", 48, "ipv6"],
]);

export function reachOfAddress(address: string): Reach {
  // An IPv4 address written as IPv6 (::ffff:169.254.169.254) is the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  const family = isIP(plain) === 6 ? "ipv6" : "ipv4";
  // Loopback first: ::1 lies in ::/96, which is never a target otherwise.
  if (LOOPBACK.check(plain, family)) return Reach.Loopback;
  if (NEVER.check(plain, family)) return Reach.Never;
  if (PRIVATE.check(plain, family)) return Reach.Private;
  return Reach.Public;
}

/** The furthest in any of the URL's host's addresses reaches (a name is resolved now). */
async function reachOf(url: string): Promise<Reach> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
  return Math.max(...addresses.map(reachOfAddress)) as Reach;
}

/** How far in the URLs found from `reference` may reach: as far as it does (public, when it does not resolve). */
export const limitOf = (reference: string): Promise<Reach> => reachOf(reference).catch(() => Reach.Public);

/** Whether an address reached is within `limit`: a link-local address never is; loopback only within loopback. */
export const isWithin = (reached: Reach, limit: Reach): boolean => reached !== Reach.Never && reached <= limit;

/**
 * The check for URLs found from `reference` (the configured URL they came from): it refuses a `target` an upstream
 * supplied for `what` when it reaches further into the network than `reference`: a link-local address never; loopback
 * only from a loopback upstream; a private address only from a private or loopback one. `reference` is resolved once
 * per guard, each target when it is checked. It names what was refused before any request is made; the connections
 * themselves are checked again when they are opened (guarded-connections.ts), which catches a redirect and a name
 * whose address changed since (DNS rebinding).
 */
export function internalTargetGuard(reference: string): (target: string, what: string) => Promise<void> {
  let allowed: Promise<Reach> | undefined;
  return async (target, what) => {
    allowed ??= limitOf(reference);
    const [limit, reached] = await Promise.all([allowed, reachOf(target)]);
    if (!isWithin(reached, limit)) {
      throw new Error(
        `${what} (${target}) is further inside the network than ${reference} itself; refused, so that an upstream cannot aim the origin's requests at its network`,
      );
    }
  };
}
