import { readFileSync, writeFileSync } from "node:fs";
import { CLOUDFLARE_IPS_FILE, type CloudflareIpRanges, parseCloudflareIpRanges } from "../aws/cdk/cloudflare-ips.ts";

/**
 * `npm run refresh:cloudflare-ips`: fetches Cloudflare's published IP ranges and rewrites the data file the
 * CDK app builds the load balancer's allow-list from. Review the diff, commit it, then `npm run cdk:deploy`.
 * Cloudflare announces changes to this list in advance; a range missing here means requests from it are refused.
 *
 * `npm run check:cloudflare-ips` (`--check`): the same comparison, changing nothing, for a daily job in CI. A stale
 * list fails where the AWS side never sees it (the security group drops the connections), so only this notices:
 * exit 0 when the file matches, 1 naming each added (+) and removed (-) range, 2 when the list could not be read.
 * `CLOUDFLARE_IPS_URL` replaces the API's URL (a mirror, or a stand-in in tests).
 */
const SOURCE = process.env.CLOUDFLARE_IPS_URL || "https://api.cloudflare.com/client/v4/ips";
const USAGE = "usage: node scripts/refresh-cloudflare-ips.ts [--check]";

async function fetchRanges(): Promise<CloudflareIpRanges> {
  const response = await fetch(SOURCE, { signal: AbortSignal.timeout(15_000) });
  if (!response.ok) throw new Error(`${SOURCE} answered ${response.status}; try again later`);
  const body = (await response.json()) as { success?: boolean; result?: { ipv4_cidrs?: unknown; ipv6_cidrs?: unknown } };
  if (!body.success || !body.result) throw new Error(`${SOURCE} did not return a successful result`);
  return parseCloudflareIpRanges({ ipv4: body.result.ipv4_cidrs, ipv6: body.result.ipv6_cidrs }, SOURCE);
}

/** What the run found: the exit code it ends with. */
async function run(check: boolean): Promise<number> {
  const fresh = await fetchRanges();
  const current = JSON.parse(readFileSync(CLOUDFLARE_IPS_FILE, "utf8")) as Record<string, unknown>;
  const before = parseCloudflareIpRanges(current, CLOUDFLARE_IPS_FILE.pathname);
  const changes = [...diff(before.ipv4, fresh.ipv4), ...diff(before.ipv6, fresh.ipv6)];
  if (changes.length === 0) {
    console.log(`Cloudflare's IP ranges are unchanged (${CLOUDFLARE_IPS_FILE.pathname} is current).`);
    return 0;
  }
  if (check) {
    console.error(
      `Cloudflare's IP ranges differ from ${CLOUDFLARE_IPS_FILE.pathname} (+ published, not allowed; - allowed, no longer published):\n${changes.join("\n")}\nRun npm run refresh:cloudflare-ips, review, commit, then npm run cdk:deploy.`,
    );
    return 1;
  }
  writeFileSync(CLOUDFLARE_IPS_FILE, `${JSON.stringify({ ...current, ...fresh }, null, 2)}\n`);
  console.log(`Updated ${CLOUDFLARE_IPS_FILE.pathname}:\n${changes.join("\n")}\nReview, commit, then npm run cdk:deploy.`);
  return 0;
}

function diff(before: string[], after: string[]): string[] {
  return [
    ...after.filter((range) => !before.includes(range)).map((range) => `  + ${range}`),
    ...before.filter((range) => !after.includes(range)).map((range) => `  - ${range}`),
  ];
}

const args = process.argv.slice(2);
if (args.some((arg) => arg !== "--check")) {
  console.error(USAGE);
  process.exit(2);
}
const check = args.includes("--check");
try {
  process.exitCode = await run(check);
} catch (error) {
  console.error(`Could not ${check ? "check" : "refresh"} Cloudflare's IP ranges: ${(error as Error).message}`);
  process.exit(2);
}
