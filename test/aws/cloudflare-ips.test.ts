import { describe, expect, it } from "vitest";
import { loadCloudflareIpRanges, parseCloudflareIpRanges } from "../../aws/cdk/cloudflare-ips.ts";

describe("Cloudflare's published IP ranges (data file, read offline)", () => {
  it("holds well-formed IPv4 and IPv6 blocks, without duplicates", () => {
    const { ipv4, ipv6 } = loadCloudflareIpRanges();
    expect(ipv4.length).toBeGreaterThanOrEqual(10);
    expect(ipv6.length).toBeGreaterThanOrEqual(5);
    expect(new Set(ipv4).size).toBe(ipv4.length);
    expect(new Set(ipv6).size).toBe(ipv6.length);
    // Fits comfortably in one security group (60 rules by default).
    expect(ipv4.length).toBeLessThanOrEqual(50);
  });

  it("refuses a list that is empty, the wrong family, or not CIDR", () => {
    expect(() => parseCloudflareIpRanges({ ipv4: [], ipv6: ["2400:cb00::/32"] }, "x")).toThrow(
      /x: ipv4: expected a non-empty list/,
    );
    expect(() => parseCloudflareIpRanges({ ipv4: ["2400:cb00::/32"], ipv6: ["2400:cb00::/32"] }, "x")).toThrow(
      /not a CIDR block/,
    );
    expect(() => parseCloudflareIpRanges({ ipv4: ["0.0.0.0/0"], ipv6: ["2400:cb00::/32"] }, "x")).toThrow(
      /"0.0.0.0\/0" is not a CIDR block/,
    );
    expect(() => parseCloudflareIpRanges({ ipv4: ["173.245.48.0"], ipv6: ["2400:cb00::/32"] }, "x")).toThrow(/not a CIDR block/);
  });
});
