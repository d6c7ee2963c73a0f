import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLOUDFLARE_IPS_FILE,
  type CloudflareIpRanges,
  loadCloudflareIpRanges,
  parseCloudflareIpRanges,
} from "../../aws/cdk/cloudflare-ips.ts";

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

// `npm run check:cloudflare-ips`, run daily in an operator's CI (docs/operations.md): a local server stands in for
// Cloudflare's API (CLOUDFLARE_IPS_URL), the committed file is compared with what it serves, and left as it was.
describe("the check of the committed ranges against Cloudflare's published list (--check)", () => {
  const SCRIPT = new URL("../../scripts/refresh-cloudflare-ips.ts", import.meta.url).pathname;
  let server: Server;
  let url = "";
  let published: CloudflareIpRanges | "unavailable" = { ipv4: [], ipv6: [] };

  beforeAll(async () => {
    server = createServer((_, response) => {
      if (published === "unavailable") return void response.writeHead(503).end();
      const result = { ipv4_cidrs: published.ipv4, ipv6_cidrs: published.ipv6, etag: "x" };
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success: true, result }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/client/v4/ips`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** Runs the script (asynchronously: the stand-in answers from this process), with the file's bytes before and after. */
  function check(args: string[]): Promise<{ code: number; stdout: string; stderr: string; fileUnchanged: boolean }> {
    const before = readFileSync(CLOUDFLARE_IPS_FILE, "utf8");
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [SCRIPT, ...args],
        { env: { ...process.env, CLOUDFLARE_IPS_URL: url } },
        (error, stdout, stderr) =>
          resolve({
            code: error ? Number(error.code) : 0,
            stdout,
            stderr,
            fileUnchanged: readFileSync(CLOUDFLARE_IPS_FILE, "utf8") === before,
          }),
      );
    });
  }

  it("passes when the published list is the committed one, in any order", async () => {
    const committed = loadCloudflareIpRanges();
    published = { ipv4: [...committed.ipv4].reverse(), ipv6: committed.ipv6 };
    const run = await check(["--check"]);
    expect(run).toMatchObject({ code: 0, fileUnchanged: true });
    expect(run.stdout).toMatch(/unchanged/);
  });

  it("fails naming each range Cloudflare added and removed, and changes nothing", async () => {
    const committed = loadCloudflareIpRanges();
    const [removed4 = "", ...kept4] = committed.ipv4;
    const [removed6 = "", ...kept6] = committed.ipv6;
    published = { ipv4: [...kept4, "198.51.100.0/22"], ipv6: [...kept6, "2001:db8::/32"] };
    const run = await check(["--check"]);
    expect(run).toMatchObject({ code: 1, fileUnchanged: true });
    for (const added of ["198.51.100.0/22", "2001:db8::/32"]) expect(run.stderr).toContain(`  + ${added}\n`);
    for (const gone of [removed4, removed6]) expect(run.stderr).toContain(`  - ${gone}\n`);
    expect(run.stderr).toContain("npm run refresh:cloudflare-ips");
  });

  it("fails apart from a difference (2) when the list cannot be read, and refuses an argument it does not know", async () => {
    published = "unavailable";
    const run = await check(["--check"]);
    expect(run).toMatchObject({ code: 2, fileUnchanged: true });
    expect(run.stderr).toMatch(/^Could not check Cloudflare's IP ranges: .* answered 503/);
    expect(await check(["--chekc"])).toMatchObject({ code: 2, fileUnchanged: true });
  });
});
