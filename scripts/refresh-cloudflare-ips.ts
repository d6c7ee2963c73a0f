import { readFileSync, writeFileSync } from "node:fs";
import { CLOUDFLARE_IPS_FILE, parseCloudflareIpRanges } from "../aws/cdk/cloudflare-ips.ts";

/**
 * `npm run refresh:cloudflare-ips`: fetches Cloudflare's published IP ranges and rewrites the data file the
 * CDK app builds the load balancer's allow-list from. Review the diff, commit it, then `npm run cdk:deploy`.
 * Cloudflare announces changes to this list in advance; a range missing here means requests from it are refused.
 */
const SOURCE = "https://api.cloudflare.com/client/v4/ips";

async function refresh(): Promise<void> {
  const response = await fetch(SOURCE, { signal: AbortSignal.timeout(15_000) });
  if (!response.ok) throw new Error(`${SOURCE} answered ${response.status}; try again later`);
  const body = (await response.json()) as { success?: boolean; result?: { ipv4_cidrs?: unknown; ipv6_cidrs?: unknown } };
  if (!body.success || !body.result) throw new Error(`${SOURCE} did not return a successful result`);
  const fresh = parseCloudflareIpRanges({ ipv4: body.result.ipv4_cidrs, ipv6: body.result.ipv6_cidrs }, SOURCE);

  const current = JSON.parse(readFileSync(CLOUDFLARE_IPS_FILE, "utf8")) as Record<string, unknown>;
  const before = parseCloudflareIpRanges(current, CLOUDFLARE_IPS_FILE.pathname);
  const changes = [...diff(before.ipv4, fresh.ipv4), ...diff(before.ipv6, fresh.ipv6)];
  if (changes.length === 0) {
    console.log("Cloudflare's IP ranges are unchanged.");
    return;
  }
  writeFileSync(CLOUDFLARE_IPS_FILE, `${JSON.stringify({ ...current, ...fresh }, null, 2)}\n`);
  console.log(`Updated ${CLOUDFLARE_IPS_FILE.pathname}:\n${changes.join("\n")}\nReview, commit, then npm run cdk:deploy.`);
}

function diff(before: string[], after: string[]): string[] {
  return [
    ...after.filter((range) => !before.includes(range)).map((range) => `  + ${range}`),
    ...before.filter((range) => !after.includes(range)).map((range) => `  - ${range}`),
  ];
}

try {
  await refresh();
} catch (error) {
  console.error(`Could not refresh Cloudflare's IP ranges: ${(error as Error).message}`);
  process.exit(1);
}
