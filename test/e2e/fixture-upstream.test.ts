import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { createParser } from "eventsource-parser";
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

describe("log messages", () => {
  it("reach a 2025-era client that never set a level, as the upstream sends them (setLevel is optional in 2025)", async () => {
    const client = new ClientV1({ name: "e2e-logs-v1", version: "1.0.0" });
    const logged: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
      logged.push(String(notification.params.data));
    });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    await client.callTool({ name: "test_tool_with_logging", arguments: {} });
    await client.close();
    expect(logged).toEqual(["started", "working", "finished"].map((step) => `test_tool_with_logging ${step}`));
  }, 30_000);
});

/** A 2025-11-25 session spoken by hand, so that the test owns its one GET stream. */
async function rawSession() {
  const headers = (extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${provider.accessToken}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    ...extra,
  });
  const initialize = await fetch(url(), {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } },
    }),
  });
  const sessionId = initialize.headers.get("mcp-session-id") as string;
  await initialize.text();
  const post = async (message: Record<string, unknown>) => {
    const response = await fetch(url(), {
      method: "POST",
      headers: headers({ "mcp-session-id": sessionId }),
      body: JSON.stringify(message),
    });
    return { status: response.status, text: await response.text() };
  };
  await post({ jsonrpc: "2.0", method: "notifications/initialized" });
  const openStream = (lastEventId?: string) => {
    const controller = new AbortController();
    const events: { id?: string; data: string }[] = [];
    let notify = () => {};
    const response = fetch(url(), {
      headers: { ...headers({ "mcp-session-id": sessionId }), ...(lastEventId && { "last-event-id": lastEventId }) },
      signal: controller.signal,
    });
    const reading = response.then(async (answer) => {
      const parser = createParser({
        onEvent: (event) => {
          if (!event.data) return;
          events.push({ id: event.id, data: event.data });
          notify();
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>)
        parser.feed(decoder.decode(chunk, { stream: true }));
    });
    reading.catch(() => {});
    const next = (predicate: (event: { id?: string; data: string }) => boolean) =>
      new Promise<{ id?: string; data: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such event on the stream; got ${JSON.stringify(events)}`)), 10_000);
        const check = () => {
          const found = events.find(predicate);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
        };
        notify = check;
        check();
      });
    return { next, close: () => controller.abort() };
  };
  return { post, openStream };
}

describe("a 2025-era client reusing a request id", () => {
  it("is refused while the first request is unanswered, and that one stays cancellable", async () => {
    const session = await rawSession();
    const cancelledSoFar = async (id: number) => {
      const { text } = await session.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "cancellations" } });
      return (JSON.parse(text) as { result: { structuredContent: { cancelled: number } } }).result.structuredContent.cancelled;
    };
    const before = await cancelledSoFar(100);
    const waiting = { name: "wait_for_cancel", arguments: { seconds: 30 } };
    const first = session.post({ jsonrpc: "2.0", id: 7, method: "tools/call", params: waiting });
    await new Promise((resolve) => setTimeout(resolve, 500));

    const second = await session.post({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "cancellations" } });
    expect(second.status).toBe(400);
    expect(second.text).toContain("request id 7 is in use");

    await session.post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7 } });
    await first;
    const deadline = Date.now() + 5000;
    for (let id = 101; (await cancelledSoFar(id)) === before; id++) {
      if (Date.now() > deadline) throw new Error("the first request's cancellation never reached the upstream");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 30_000);
});

describe("resumption of a 2025-era client's GET stream", () => {
  it("replays, after Last-Event-ID, what arrived while the stream was down: nothing is lost", async () => {
    const session = await rawSession();
    const trigger = (id: number) =>
      session.post({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "test_trigger_tool_change", arguments: {} } });
    const isListChanged = (event: { data: string }) => event.data.includes("notifications/tools/list_changed");

    const first = session.openStream();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await trigger(1);
    const seen = await first.next(isListChanged);
    expect(seen.id).toBeTruthy();
    first.close();

    await new Promise((resolve) => setTimeout(resolve, 300));
    await trigger(2); // while no stream is open

    const resumed = session.openStream(seen.id);
    const replayed = await resumed.next(isListChanged);
    expect(replayed.id).toBeTruthy();
    expect(replayed.id).not.toBe(seen.id);
    resumed.close();
  }, 30_000);
});

describe("list changes for a 2026-07-28 client", () => {
  it("arrive on its subscriptions/listen stream through the edge and the origin", async () => {
    const client = new Client({ name: "e2e-listen", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new StreamableHTTPClientTransport(url(), { authProvider: provider }));
    const changed = new Promise<void>((resolve) =>
      client.setNotificationHandler("notifications/tools/list_changed", () => resolve()),
    );
    const subscription = await client.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter.toolsListChanged).toBe(true);
    await client.callTool({ name: "test_trigger_tool_change", arguments: {} });
    await changed;
    await subscription.close();
    await client.close();
  }, 30_000);
});
