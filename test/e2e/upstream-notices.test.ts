import { fileURLToPath } from "node:url";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitationCompleteNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// What a 2025-era upstream says to the client outside its answers, through the whole local system with a real SDK v1
// client on 2025-11-25 (s22 hunt "faithful" F8, F10): its notifications/elicitation/complete reaches the client through
// its session object, during a call and between calls (on the GET stream the SDK client keeps open; on the request's
// own stream for a client without one), and its roots/list between calls is told "method not found".

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));

let system: Awaited<ReturnType<typeof startTestSystem>>;
const provider = new InMemoryOAuthProvider();
const url = () => new URL(`${system.edgeUrl}/mcp/raw`);
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "upstream notices",
      content: { servers: { raw: { transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM], env: {} } } },
    },
  });
  const client = new ClientV2({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(new TransportV2(url(), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  await new TransportV2(url(), { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
});
afterAll(async () => {
  await system?.close();
});

const textOf = (result: unknown) => (result as { content: { text: string }[] }).content[0]?.text;

describe("a 2025-era upstream's words outside its answers, through the edge", () => {
  it("relays notifications/elicitation/complete to a 2025-11-25 session that opens links (SDK v1)", async () => {
    const client = new ClientV1({ name: "links-v1", version: "1" }, { capabilities: { elicitation: { url: {} } } });
    const completed: unknown[] = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
      completed.push(notification.params);
    });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    const line = '{"jsonrpc":"2.0","method":"notifications/elicitation/complete","params":{"elicitationId":"e-1"}}';
    expect(textOf(await client.callTool({ name: "notify", arguments: { lines: [line] } }))).toBe("notified");
    expect(completed).toEqual([{ elicitationId: "e-1" }]);
    await client.close();
  });

  it("relays notifications/elicitation/complete sent between calls on the session's GET stream (SDK v1)", async () => {
    const client = new ClientV1({ name: "links-get-v1", version: "1" }, { capabilities: { elicitation: { url: {} } } });
    const completed: unknown[] = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
      completed.push(notification.params);
    });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    // The client opens its GET stream after initialize, and the session listens at the origin while it is open.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const line = '{"jsonrpc":"2.0","method":"notifications/elicitation/complete","params":{"elicitationId":"e-2"}}';
    await client.callTool({ name: "notify", arguments: { after: [line], afterMs: 100 } });
    for (let waited = 0; completed.length === 0 && waited < 5_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(completed).toEqual([{ elicitationId: "e-2" }]);
    await client.close();
  });

  it("tells the upstream 'method not found' for its roots/list between calls", async () => {
    const client = new ClientV1({ name: "roots-v1", version: "1" }, { capabilities: { roots: { listChanged: true } } });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    const ask = '{"jsonrpc":"2.0","id":"roots-e2e","method":"roots/list","params":{}}';
    await client.callTool({ name: "notify", arguments: { after: [ask], afterMs: 50 } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const heard = JSON.parse(textOf(await client.callTool({ name: "heard", arguments: {} })) ?? "[]") as string[];
    const answer = heard.map((line) => JSON.parse(line)).find((message) => message.id === "roots-e2e");
    expect(answer?.error?.code).toBe(-32601);
    await client.close();
  });
});
