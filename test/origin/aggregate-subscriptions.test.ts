import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { Policy } from "../../contract/config/policy.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";

// A resource subscription on the aggregated /mcp's listen reaches the server that has the resource, over a real
// 2025-era stdio upstream that logs each resources/subscribe; and not for a user the policy keeps off its resources.
const callLog = join(mkdtempSync(join(tmpdir(), "aggregate-subscriptions-")), "calls.log");
const servers = {
  docs: catalogServer({
    name: "docs",
    callLog,
    tools: [{ name: "list_pages" }],
    resources: ["docs://handbook"],
    subscribable: true,
  }),
};
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { groups: ["staff"] }, servers: ["docs"] },
    { effect: "allow", who: { groups: ["guests"] }, servers: ["docs"], tools: ["list_*"] },
  ],
});

let pool: HostPool;
let options: AggregateOptions;
beforeAll(() => {
  pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 4, host: testHostOptions, log: () => {} });
  options = {
    servers: Object.keys(servers),
    policy,
    upstreamTimeoutMs: 15_000,
    keepAliveMs: 0,
    askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request, policy),
    leftOut: () => {},
  };
});
afterAll(() => pool.close());

const user = (sub: string, groups: string[]) =>
  ({
    sub,
    email: `${sub}@example.com`,
    groups,
    client_id: "c",
    server: ALL_SERVERS,
    purpose: "mcp",
    jti: sub,
    exp: 0,
  }) as VerifiedAssertion;
const subscribed = () =>
  (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n") : []).filter((line) => line === "subscribe docs://handbook")
    .length;

async function listenUntilAcknowledged(who: VerifiedAssertion): Promise<ReadableStreamDefaultReader<string>> {
  const listen = modernRequest("subscriptions/listen", { notifications: { resourceSubscriptions: ["docs://handbook"] } });
  const reader = (await serveAggregate(options, who, listen)).body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) throw new Error("no stream");
  let seen = "";
  while (!seen.includes("notifications/subscriptions/acknowledged")) {
    const next = await reader.read();
    if (next.done) throw new Error(`the listen ended: ${seen}`);
    seen += next.value;
  }
  return reader;
}

describe("resource subscriptions on the aggregated listen", () => {
  it("reach the server that has the resource, and none for a user who may not see its resources", async () => {
    const guest = await listenUntilAcknowledged(user("guest", ["guests"]));
    const staff = await listenUntilAcknowledged(user("staff", ["staff"]));
    await expect.poll(subscribed, { timeout: 10_000 }).toBe(1); // the staff member's
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(subscribed()).toBe(1); // the guest's never came
    await Promise.all([guest.cancel(), staff.cancel()]);
  });
});
