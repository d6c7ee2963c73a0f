import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoServers } from "../../local/system.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// Two origin instances behind the local balancer (round robin, cookie stickiness, like the ALB). A user's stdio
// child lives in one instance; the edge keeps the user's stickiness so every call reaches it, and when that
// instance is lost the next call costs at most one clean error before a new child serves the user elsewhere.

let system: Awaited<ReturnType<typeof startTestSystem>>;
const providers: Record<string, InMemoryOAuthProvider> = {};
beforeAll(async () => {
  system = await startTestSystem({
    originInstances: 2,
    originFile: {
      path: "two origins",
      content: { servers: { counter: { transport: "stdio", ...stdioFixtureCommand("dual"), env: {} }, ...demoServers() } },
    },
  });
  for (const server of ["counter", "everything"]) {
    providers[server] = new InMemoryOAuthProvider();
    const client = new Client({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await expect(client.connect(transport(server))).rejects.toBeInstanceOf(UnauthorizedError);
    await transport(server).finishAuth(await (providers[server] as InMemoryOAuthProvider).signInHeadlessly());
  }
  // Each sign-in started the user's child for its server (warm start) on the instance the edge then remembers: let
  // both finish before the calls, so that the user is on one instance from the first call on.
  const started = () => system.origins.reduce((sum, origin) => sum + origin.upstreams(), 0);
  for (let tries = 0; tries < 200 && started() < 2; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
});
afterAll(async () => {
  await system?.close();
});

const transport = (server = "counter") =>
  new StreamableHTTPClientTransport(new URL(`${system.edgeUrl}/mcp/${server}`), { authProvider: providers[server] });

async function connect(server = "counter"): Promise<Client> {
  const client = new Client({ name: "e2e-instances", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(transport(server));
  return client;
}

const count = async (client: Client) =>
  (await client.callTool({ name: "counter_increment", arguments: {} })).structuredContent as { value: number; pid: number };

describe("several origin instances behind a balancer", () => {
  it("keeps one user's stateful upstream across 100 calls", async () => {
    const client = await connect();
    const seen = [];
    for (let call = 0; call < 100; call++) seen.push(await count(client));
    expect(seen.map((entry) => entry.value)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
    expect(new Set(seen.map((entry) => entry.pid)).size).toBe(1);
    // All the user's children on one instance: the counter's, and the `everything` child that signing in for that
    // server started (warmOnSignIn).
    expect(system.origins.map((origin) => origin.upstreams()).sort()).toEqual([0, 2]);
    await client.close();
  }, 60_000);

  it("loses one instance at the cost of at most one clean error; the next call starts anew on the other", async () => {
    const client = await connect();
    const holder = system.origins.find((origin) => origin.upstreams() > 0);
    expect(holder).toBeDefined();
    await holder?.close();
    const outcomes: ({ ok: true; value: number } | { ok: false; message: string })[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        outcomes.push({ ok: true, value: (await count(client)).value });
      } catch (error) {
        outcomes.push({ ok: false, message: (error as Error).message });
      }
    }
    expect(outcomes.filter((outcome) => !outcome.ok).length).toBeLessThanOrEqual(1);
    expect(outcomes.at(-1)).toEqual({ ok: true, value: expect.any(Number) });
    // A new child: the count started again.
    expect((outcomes.find((outcome) => outcome.ok) as { value: number }).value).toBe(1);
    await client.close();
  }, 60_000);

  it("answers a call in flight with a JSON-RPC error within a second when its origin dies", async () => {
    const client = await connect("everything");
    let progressed: () => void = () => {};
    const firstProgress = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const call = client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } },
      {
        onprogress: () => progressed(),
        timeout: 60_000,
      },
    );
    const outcome = call.then(
      () => "answered",
      (error: Error) => error,
    );
    await firstProgress;
    const holder = system.origins.find((origin) => origin.upstreams() > 0);
    const killedAt = Date.now();
    const stopped = holder?.close({ abrupt: true });
    const error = await outcome;
    const waited = Date.now() - killedAt;
    await stopped;
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/broke off|-32000|could not be reached/);
    expect(waited).toBeLessThan(1000);
    await client.close().catch(() => {});
  }, 60_000);
});
