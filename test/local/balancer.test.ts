import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningBalancer, startBalancer } from "../../local/balancer.ts";

// The local balancer's stickiness, like the ALB's: the cookie it issues with every answer that sets MCP_ORIGIN is
// honoured only for the stickiness duration after its issue; an older one is balanced round robin as if absent.

const DURATION_MS = 1000;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An origin instance in miniature: healthy, naming itself in its body and (except on /plain) in MCP_ORIGIN. */
async function target(name: string): Promise<string> {
  const server: Server = createServer((request, response) => {
    const headers: Record<string, string> = { "content-type": "text/plain" };
    if (request.url !== "/healthz" && request.url !== "/plain") headers["set-cookie"] = `MCP_ORIGIN=${name}; Path=/`;
    response.writeHead(200, headers).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function balancer(stickinessMs?: number): Promise<RunningBalancer & { targets: Record<string, string> }> {
  const targets = { a: await target("a"), b: await target("b") };
  const running = await startBalancer({ port: 0, targets: [targets.a, targets.b], log: () => {}, stickinessMs });
  cleanups.push(() => running.close());
  return { ...running, targets };
}

/** One request through the balancer: which target served it, and the stickiness cookie of the answer, if any. */
async function send(running: RunningBalancer, cookie?: string, path = "/mcp"): Promise<{ served: string; cookie?: string }> {
  const response = await fetch(`${running.url}${path}`, { headers: cookie ? { cookie } : {} });
  const sticky = response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0] ?? "")
    .find((pair) => pair.startsWith("AWSALBAPP-0="));
  return { served: await response.text(), cookie: sticky };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the local balancer's stickiness duration", () => {
  it("honours its cookie within the duration, and balances one past it as if it were absent", async () => {
    const running = await balancer(DURATION_MS);
    const first = await send(running);
    expect(first.cookie).toBeDefined();
    for (let request = 0; request < 3; request++) expect((await send(running, first.cookie)).served).toBe(first.served);
    await sleep(DURATION_MS + 100);
    // Round robin goes on from where the first request left it: to the other target.
    const late = await send(running, first.cookie);
    expect(late.served).not.toBe(first.served);
    expect(late.cookie).toBeDefined();
    expect(late.cookie).not.toBe(first.cookie);
  });

  it("honours a refreshed cookie past the duration of the first", async () => {
    const running = await balancer(DURATION_MS);
    const first = await send(running);
    let cookie = first.cookie;
    // Five refreshes half a duration apart: each request carries the cookie of the answer before.
    for (let step = 0; step < 5; step++) {
      await sleep(DURATION_MS / 2);
      const answer = await send(running, cookie);
      expect(answer.served).toBe(first.served);
      expect(answer.cookie).toBeDefined();
      cookie = answer.cookie;
    }
    // The first cookie alone is long past its duration by now.
    expect((await send(running, first.cookie)).served).not.toBe(first.served);
  });

  it("issues no cookie on an answer that does not set MCP_ORIGIN", async () => {
    const running = await balancer(DURATION_MS);
    expect((await send(running, undefined, "/plain")).cookie).toBeUndefined();
  });

  it("balances a cookie of the earlier format (the target alone, undated) as if absent", async () => {
    const running = await balancer(DURATION_MS);
    expect((await send(running)).served).toBe("a");
    const undated = `AWSALBAPP-0=${Buffer.from(running.targets.a ?? "").toString("base64url")}`;
    expect((await send(running, undated)).served).toBe("b");
    expect((await send(running, "AWSALBAPP-0=not-base64-json")).served).toBe("a");
  });
});
