import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// A 2025-era client that gives up on a call (notifications/cancelled to its session) cancels the upstream's work,
// through the edge, its session object and the origin. (A 2026-07-28 client cancels by closing the request's
// stream; `wrangler dev`'s local proxy does not pass a client's disconnect on to the Worker, so that path is
// covered from the edge's fetch inward only: the session object's aborted hop is the same fetch.)

let system: Awaited<ReturnType<typeof startTestSystem>>;
const provider = new InMemoryOAuthProvider();
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "cancellation",
      content: { servers: { probe: { transport: "stdio", ...stdioFixtureCommand("dual"), env: {} } } },
    },
  });
  const client = new Client({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(new StreamableHTTPClientTransport(url(), { authProvider: provider }))).rejects.toBeInstanceOf(
    UnauthorizedError,
  );
  await new StreamableHTTPClientTransport(url(), { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
});
afterAll(async () => {
  await system?.close();
});

const url = () => new URL(`${system.edgeUrl}/mcp/probe`);

type Caller = { callTool: (params: { name: string; arguments?: Record<string, unknown> }, ...rest: never[]) => Promise<unknown> };
const cancellations = async (client: Caller) =>
  ((await client.callTool({ name: "cancellations", arguments: {} })) as { structuredContent: { cancelled: number } })
    .structuredContent.cancelled;

async function expectUpstreamCancelled(client: Caller, call: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const before = await cancellations(client);
  const controller = new AbortController();
  const pending = call(controller.signal).catch(() => "aborted");
  await new Promise((resolve) => setTimeout(resolve, 500));
  controller.abort();
  await pending;
  const deadline = Date.now() + 5000;
  while ((await cancellations(client)) === before) {
    if (Date.now() > deadline) throw new Error("the upstream never saw the cancellation");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("cancellation reaches the upstream", () => {
  it("from a 2025-era client (notifications/cancelled to its session)", async () => {
    const client = new ClientV1({ name: "e2e-cancel-v1", version: "1.0.0" });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    await expectUpstreamCancelled(client as never, (signal) =>
      client.callTool({ name: "wait_for_cancel", arguments: { seconds: 30 } }, undefined, { signal }),
    );
    await client.close();
  }, 30_000);
});
