import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { demoServers } from "../../local/system.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function pool(servers: Parameters<typeof createHostPool>[0]["servers"]) {
  const created = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 4, host: testHostOptions, log: () => {} });
  pools.push(created);
  return created;
}

const caller = (sub: string) => ({ sub, server: "upstream", clientId: "test-client", era: "modern" as const });
const everything = () => demoServers().everything as UpstreamServer & { transport: "stdio" };
const loggingFixture = () => ({ transport: "stdio" as const, ...stdioFixtureCommand("legacy"), env: {} });

type Message = { method?: string; result?: Record<string, unknown>; error?: { message: string } };

async function call(hosts: HostPool, user: string, request: Request): Promise<Message[]> {
  const lease = await hosts.acquire("upstream", caller(user));
  try {
    return (await messagesOf(await lease.host.fetch(request, caller(user)))) as Message[];
  } finally {
    lease.release();
  }
}

describe("configuration: which servers may be shared", () => {
  const http = { transport: "http", url: "http://tickets.internal:8080/mcp", sharing: "shared" };

  it.each(["jwt", "headers", undefined])("refuses a shared HTTP server that receives the user's identity (%s)", (identity) => {
    const parsed = UpstreamServer.safeParse({ ...http, ...(identity && { identity }) });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["sharing"]);
    expect(parsed.error?.issues[0]?.message).toMatch(/expected "per-user" .* set "identity": "none"/);
  });

  it("accepts a shared HTTP server that receives no identity, and a shared stdio server", () => {
    expect(UpstreamServer.safeParse({ ...http, identity: "none" }).success).toBe(true);
    expect(UpstreamServer.safeParse({ ...everything(), sharing: "shared" }).success).toBe(true);
  });

  it("takes a server without the key as per-user, and refuses an unknown mode", () => {
    expect(UpstreamServer.parse(everything()).sharing).toBeUndefined();
    expect(UpstreamServer.safeParse({ ...everything(), sharing: "pooled" }).success).toBe(false);
  });
});

describe("stdio hosting: a shared server", () => {
  it("serves every user from one child", async () => {
    const hosts = pool({ upstream: { ...everything(), sharing: "shared" } });
    const alice = await hosts.acquire("upstream", caller("alice"));
    const bob = await hosts.acquire("upstream", caller("bob"));
    expect(bob.host.pid).toBe(alice.host.pid);
    expect(hosts.size()).toBe(1);
    for (const lease of [alice, bob]) lease.release();
  });

  it("relays no log message, which could belong to another user's call (a per-user child relays them)", async () => {
    const logging = modernRequest("tools/call", { name: "test_tool_with_logging", arguments: {} }, { logLevel: "debug" });
    const isLog = (message: Message) => message.method === "notifications/message";
    const perUser = await call(pool({ upstream: loggingFixture() }), "alice", logging.clone());
    expect(perUser.filter(isLog)).toHaveLength(3);
    const shared = await call(pool({ upstream: { ...loggingFixture(), sharing: "shared" } }), "alice", logging);
    expect(shared.filter(isLog)).toEqual([]);
    expect(JSON.stringify(shared.at(-1)?.result)).toContain("logged three messages");
  });

  it("refuses the upstream's mid-call question instead of putting it to whichever user called last", async () => {
    const hosts = pool({ upstream: { ...everything(), sharing: "shared" } });
    const sampling = modernRequest(
      "tools/call",
      { name: "trigger-sampling-request", arguments: { prompt: "hi" } },
      { capabilities: { sampling: {} } },
    );
    const [answer] = await call(hosts, "alice", sampling);
    expect(answer?.result?.resultType).not.toBe("input_required");
    expect(JSON.stringify(answer)).toMatch(/shared upstream \(sharing: \\"shared\\"\) cannot send sampling\/createMessage/);
  });
});
