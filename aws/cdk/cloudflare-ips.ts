import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";

/** The data file kept in the repository, refreshed by `scripts/refresh-cloudflare-ips.ts`. */
export const CLOUDFLARE_IPS_FILE = new URL("./cloudflare-ips.json", import.meta.url);

export interface CloudflareIpRanges {
  ipv4: string[];
  ipv6: string[];
}

/** Cloudflare's published ranges, checked: each entry must be a CIDR block of its family, and neither list empty. */
export function parseCloudflareIpRanges(document: unknown, where: string): CloudflareIpRanges {
  const { ipv4, ipv6 } = (document ?? {}) as Partial<Record<"ipv4" | "ipv6", unknown>>;
  return { ipv4: cidrList(ipv4, isIPv4, 32, `${where}: ipv4`), ipv6: cidrList(ipv6, isIPv6, 128, `${where}: ipv6`) };
}

/** The ranges from the data file in the repository (no network). */
export function loadCloudflareIpRanges(): CloudflareIpRanges {
  return parseCloudflareIpRanges(JSON.parse(readFileSync(CLOUDFLARE_IPS_FILE, "utf8")), CLOUDFLARE_IPS_FILE.pathname);
}

function cidrList(value: unknown, isAddress: (address: string) => boolean, maxBits: number, where: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error(`${where}: expected a non-empty list of CIDR blocks`);
  for (const entry of value) {
    const [address, bits, extra] = String(entry).split("/");
    const prefix = Number(bits);
    if (extra !== undefined || !address || !isAddress(address) || !Number.isInteger(prefix) || prefix < 8 || prefix > maxBits) {
      throw new Error(`${where}: "${String(entry)}" is not a CIDR block such as 173.245.48.0/20 or 2400:cb00::/32`);
    }
  }
  return value as string[];
}
