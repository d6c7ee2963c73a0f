import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { type InMemoryOAuthProvider, signedInProvider } from "./oauth-client.ts";

// A listen is authorized once, when it opens: the edge ends it by its caller's token expiry and groups' TTL, so that
// a user removed from a group stops hearing of a server's changes, and a still-allowed client listens again
// (s27 isolation hunt, I2). Groups from the fake Google Workspace, read again past a short TTL.

const TTL_SECONDS = 5;
const DEV = "dev@example.com";
const CALL_LOG = join(tmpdir(), `listen-authorization-${randomUUID()}.log`);

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({
    groupsFreshness: { edgeTtlSeconds: TTL_SECONDS, originCacheSeconds: 0 },
    originFile: {
      path: "listen authorization test",
      content: {
        servers: {
          alpha: catalogServer({
            name: "alpha",
            tools: [{ name: "search" }],
            growable: true,
            resources: ["alpha://notes", "alpha://other"],
            subscribable: true,
            callLog: CALL_LOG,
          }),
        },
        policy: { rules: [{ effect: "allow", who: { groups: ["engineering@example.com"] }, servers: ["alpha"] }] },
      },
    },
  });
});
afterAll(async () => {
  await system?.close();
  rmSync(CALL_LOG, { force: true });
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/alpha`);
const subscribed = () =>
  (existsSync(CALL_LOG) ? readFileSync(CALL_LOG, "utf8") : "").split("\n").filter((line) => line.startsWith("subscribe"));
/** The edge's log lines of the GET streams opened on /mcp/alpha. */
const getStreams = () => system.output().filter((line) => /\bGET \/mcp\/alpha\b/.test(line)).length;

const signedIn = () => signedInProvider(mcpUrl());

const raw = (provider: InMemoryOAuthProvider, init: { method?: string; headers?: Record<string, string>; body?: unknown }) =>
  fetch(mcpUrl(), {
    method: init.method ?? "POST",
    headers: {
      authorization: `Bearer ${(provider.tokens() as { access_token: string }).access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

describe("listens through the local system, with groups from Google Workspace", () => {
  it("a still-allowed 2025-era client's GET stream ends by the groups' TTL, is reopened by the SDK, and misses nothing", async () => {
    system.google.setGroups(DEV, ["engineering@example.com"]);
    const provider = await signedIn();
    const client = new ClientV1({ name: "listen-v1", version: "1.0.0" });
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changes++);
    const opened = getStreams();
    await client.connect(new TransportV1(mcpUrl(), { authProvider: provider as never }));
    // The edge ends the stream once the groups it was opened with are older than the TTL; the SDK opens it again.
    await expect.poll(getStreams, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(opened + 2);
    const before = changes;
    await client.callTool({ name: "add_tool", arguments: {} });
    await expect.poll(() => changes, { timeout: 30_000 }).toBeGreaterThan(before);
    await client.close();
  });

  it("a removed user's listens end (2026-07-28 with its result), and their resources/subscribe reaches no upstream", async () => {
    system.google.setGroups(DEV, ["engineering@example.com"]);
    const provider = await signedIn();
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
      "io.modelcontextprotocol/clientInfo": { name: "listen-raw", version: "1.0.0" },
    };
    const listen = await raw(provider, {
      headers: { "mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen" },
      body: {
        jsonrpc: "2.0",
        id: 9,
        method: "subscriptions/listen",
        params: { notifications: { toolsListChanged: true, resourceSubscriptions: ["alpha://notes"] }, _meta: meta },
      },
    });
    expect(listen.status).toBe(200);
    const legacy = { "mcp-protocol-version": "2025-11-25" };
    const init = await raw(provider, {
      headers: legacy,
      body: {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      },
    });
    const session = { ...legacy, "mcp-session-id": init.headers.get("mcp-session-id") ?? "" };
    await init.text();
    await (await raw(provider, { headers: session, body: { jsonrpc: "2.0", method: "notifications/initialized" } })).text();
    const get = await raw(provider, { method: "GET", headers: session });
    expect(get.status).toBe(200);

    system.google.setGroups(DEV, []);
    const listened = await listen.text();
    expect(listened.trim().split("\n").at(-1)).toBe(
      `data: ${JSON.stringify({ jsonrpc: "2.0", id: 9, result: { _meta: { "io.modelcontextprotocol/subscriptionId": 9 } } })}`,
    );
    await get.text();
    // Refused everything now, but the session answers a subscribe itself: no listen may watch it under the old groups.
    const subscribe = await raw(provider, {
      headers: session,
      body: { jsonrpc: "2.0", id: 5, method: "resources/subscribe", params: { uri: "alpha://other" } },
    });
    expect(await subscribe.text()).toContain('"result":{}');
    // The client's next GET is signed with the groups read now, and its listen refused by the policy: the stream ends.
    await (await raw(provider, { method: "GET", headers: session })).text();
    expect(subscribed()).toEqual(["subscribe alpha://notes"]);
  });
});
