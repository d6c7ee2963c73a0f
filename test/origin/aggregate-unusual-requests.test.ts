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
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// The aggregated /mcp over a real 2025-era stdio upstream that logs each resources/subscribe: names and URIs beyond
// ASCII routed to it, and a resource subscription on the listen reaching it, but not for a user the policy keeps
// off its resources.
const callLog = join(mkdtempSync(join(tmpdir(), "aggregate-subscriptions-")), "calls.log");
const servers = {
  docs: catalogServer({
    name: "docs",
    callLog,
    tools: [{ name: "list_pages" }, { name: "搜索" }, { name: `${"x".repeat(48)}${"😀".repeat(10)}` }],
    resources: ["docs://handbook"],
    templateScheme: "item",
    subscribable: true,
  }),
  // Another server's catch-all template, which must not receive what the policy keeps from a user elsewhere.
  wide: catalogServer({ name: "wide", callLog, uriTemplate: "{+uri}" }),
};
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { groups: ["staff"] }, servers: ["docs"] },
    { effect: "allow", who: { groups: ["guests"] }, servers: ["docs"], tools: ["list_*"] },
    { effect: "allow", who: { groups: ["staff", "guests"] }, servers: ["wide"] },
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

describe("a resource of a server whose resources the user may not see", () => {
  it("is not read through another server's catch-all template, but refused by policy", async () => {
    const read = async (who: VerifiedAssertion, uri: string) =>
      (
        (await messagesOf(await serveAggregate(options, who, modernRequest("resources/read", { uri })))) as {
          result?: unknown;
          error?: { code: number; message: string };
        }[]
      )[0];
    const guest = await read(user("guest-read", ["guests"]), "docs://handbook");
    expect(guest?.error?.code).toBe(-32003);
    expect(guest?.error?.message).toContain('it may be one of "docs", whose resources you may not use');
    expect(JSON.stringify(await read(user("staff-read", ["staff"]), "docs://handbook"))).toContain("docs://handbook on docs");
    // The catch-all still serves what no withheld server could own, for a user who may see every server's resources.
    expect(JSON.stringify(await read(user("staff-read", ["staff"]), "elsewhere://x"))).toContain("elsewhere://x on wide");
  });
});

describe("names and URIs beyond ASCII on the aggregated endpoint", () => {
  const STAFF = user("staff-names", ["staff"]);
  const answerOf = async (method: string, params: Record<string, unknown>) => {
    const messages = (await messagesOf(await serveAggregate(options, STAFF, modernRequest(method, params)))) as {
      result?: Record<string, unknown>;
      error?: { message: string };
    }[];
    return messages.find((message) => message.result || message.error);
  };

  it("lists them as valid Unicode, and calls and reads them at their server", async () => {
    const tools = ((await answerOf("tools/list", {}))?.result?.tools ?? []) as { name: string }[];
    const names = tools.map((tool) => tool.name);
    expect(names).toContain("docs__搜索");
    const shortened = names.find((name) => name.includes("xxx")) ?? "";
    expect(shortened.length).toBeLessThanOrEqual(64);
    // No half of an emoji's surrogate pair: a lone one is not Unicode, and strict JSON decoders refuse the list.
    expect(shortened).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    for (const name of ["docs__搜索", shortened]) {
      const called = await answerOf("tools/call", { name, arguments: {} });
      expect(JSON.stringify(called), name).toContain(" on docs: {}");
    }
    // The upstream (the SDK) reads the URI percent-encoded, as new URL() gives it.
    const read = await answerOf("resources/read", { uri: "item://文档" });
    expect(JSON.stringify(read)).toContain("item://%E6%96%87%E6%A1%A3 on docs");
  });
});

describe("a method named after a property every object has", () => {
  it("is a method the aggregated endpoint does not know: -32601, as JSON-RPC, never a 500 (s23 hunt fuzz F2)", async () => {
    for (const method of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const answer = await serveAggregate(options, user("staff-1", ["staff"]), modernRequest(method, {}, { id: 7 }));
      expect(answer.status, method).toBe(404);
      expect(await answer.json(), method).toEqual({
        jsonrpc: "2.0",
        id: 7,
        error: { code: -32601, message: `method "${method}" is not available on the aggregated endpoint` },
      });
    }
  });
});

describe("a request every server's endpoint would refuse (s23 hunt fuzz F7)", () => {
  it("is refused by the aggregated endpoint itself, once, and no server is reported left out", async () => {
    const leftOut: string[] = [];
    const recording: AggregateOptions = { ...options, leftOut: (server, method) => void leftOut.push(`${server} ${method}`) };
    const staff = user("staff-2", ["staff"]);
    const plain = modernRequest("tools/list");
    const textHeaders = new Headers(plain.headers);
    textHeaders.set("content-type", "text/plain");
    const asText = new Request(plain, { headers: textHeaders });
    const wrongType = await serveAggregate(recording, staff, asText);
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ error: { code: -32000 } });

    const bare = new Request(plain, { body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list", params: {} }) });
    const withoutEnvelope = await serveAggregate(recording, staff, bare);
    expect(withoutEnvelope.status).toBe(400);
    expect(await withoutEnvelope.json()).toMatchObject({ id: 3, error: { code: -32602 } });
    const halfMeta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28" };
    const half = new Request(plain, {
      body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/list", params: { _meta: halfMeta } }),
    });
    expect(await (await serveAggregate(recording, staff, half)).json()).toMatchObject({ id: 8, error: { code: -32602 } });

    for (const notifications of [undefined, null, "x", { toolsListChanged: 5 }, { resourceSubscriptions: [{}] }]) {
      const listen = modernRequest("subscriptions/listen", notifications === undefined ? {} : { notifications }, { id: 4 });
      const refused = await serveAggregate(recording, staff, listen);
      expect(await refused.json(), JSON.stringify(notifications)).toMatchObject({ id: 4, error: { code: -32602 } });
    }
    expect(leftOut).toEqual([]);
  });
});
