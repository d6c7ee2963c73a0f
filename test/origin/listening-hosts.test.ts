import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { acknowledgedListen as acknowledged } from "./listen-stream.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// An open subscriptions/listen must not hold its user's upstream connection for good: with stdio.maxProcesses
// connections, as many listening clients would otherwise refuse every other user. Real stdio upstreams (one per
// user), the origin's MCP route in-process, a pool of one connection.

const servers = { notes: catalogServer({ name: "notes", tools: [{ name: "echo" }] }) };
const lines: string[] = [];
let pool: HostPool | undefined;
afterEach(async () => {
  await pool?.close();
  lines.length = 0;
});
const poolOf = (idleTimeoutMs = 60_000) => {
  pool = createHostPool({ servers, idleTimeoutMs, maxProcesses: 1, host: testHostOptions, log: (line) => lines.push(line) });
  return pool;
};

const who = (sub: string) =>
  ({
    sub,
    email: `${sub}@example.com`,
    groups: [],
    client_id: "c",
    server: "notes",
    purpose: "mcp",
    jti: sub,
    exp: 0,
  }) as unknown as VerifiedAssertion;
const listen = (on: HostPool, sub: string) =>
  serveMcp(
    on,
    "notes",
    who(sub),
    modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }, { id: 3 }),
  );
const call = (on: HostPool, sub: string) =>
  serveMcp(on, "notes", who(sub), modernRequest("tools/call", { name: "echo", arguments: {} }, { id: 4 }));

describe("a connection with only listens on it", () => {
  it("is stopped for another user's request when the pool is full, its listen ending so that its client listens again", async () => {
    const full = poolOf();
    const alice = await acknowledged(await listen(full, "alice"));
    const answer = await call(full, "bob");
    expect(answer.status).toBe(200);
    expect(JSON.stringify(await messagesOf(answer))).not.toContain('"error"');
    expect(await alice.ended).toBe(true);
    expect(lines.some((line) => line.includes("least recently used (its listens end)"))).toBe(true);
  });

  it("is not stopped for another user's listen: listens taking each other's place would restart children without end", async () => {
    const full = poolOf();
    const alice = await acknowledged(await listen(full, "alice"));
    const refused = await listen(full, "bob");
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain("all of them busy");
    await alice.reader.cancel();
  });

  it("is not stopped as idle while it listens: its notifications go on", async () => {
    const quick = poolOf(200);
    const alice = await acknowledged(await listen(quick, "alice"));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(quick.size()).toBe(1);
    expect(lines.filter((line) => line.startsWith("stopping idle"))).toEqual([]);
    await alice.reader.cancel();
  });
});
