import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { type AuditRow, waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// Approval prompts through the real proxy: the gateway asks the user (an elicitation a 2026-07-28 client answers as
// an input request, a 2025-era client as a server-to-client request on its session) before a destructive call.
let system: Awaited<ReturnType<typeof startTestSystem>>;
let provider: InMemoryOAuthProvider;
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "approval test",
      content: {
        servers: { db: catalogServer({ name: "db", tools: [{ name: "drop_table", annotations: { destructiveHint: true } }] }) },
        policy: {
          rules: [
            { effect: "allow", who: { everyone: true }, servers: ["db"] },
            {
              description: "destructive calls are confirmed",
              effect: "require_approval",
              who: { everyone: true },
              servers: ["*"],
              annotations: { destructiveHint: true },
            },
          ],
        },
      },
    },
  });
  provider = new InMemoryOAuthProvider();
  await new ClientV2({ name: "sign-in", version: "1" })
    .connect(new TransportV2(url(), { authProvider: provider }))
    .catch(() => {});
  await new TransportV2(url(), { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
});
afterAll(async () => {
  await system?.close();
});
const url = () => new URL(`${system.edgeUrl}/mcp/db`);

async function modernClient(
  answer?: { action: string; content?: Record<string, unknown> },
  asked: string[] = [],
): Promise<ClientV2> {
  const client = new ClientV2(
    { name: "approval-v2", version: "1" },
    { versionNegotiation: { mode: "auto" }, capabilities: answer ? { elicitation: { form: {} } } : {} },
  );
  if (answer) {
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push(String((request.params as { message?: unknown }).message));
      return answer as never;
    });
  }
  await client.connect(new TransportV2(url(), { authProvider: provider }));
  return client;
}

describe("approval prompts through the proxy", () => {
  it("asks a 2026-07-28 client, runs the call once approved, and refuses a no", async () => {
    const asked: string[] = [];
    const approving = await modernClient({ action: "accept", content: { approve: true } }, asked);
    const result = await approving.callTool({ name: "drop_table", arguments: { text: "users" } });
    expect(result.content).toEqual([{ type: "text", text: 'drop_table on db: {"text":"users"}' }]);
    expect(asked[0]).toContain('Allow the tool "drop_table" on server "db" to run with these arguments?');
    await approving.close();

    const declining = await modernClient({ action: "decline" });
    await expect(declining.callTool({ name: "drop_table", arguments: {} })).rejects.toThrow(/not approved: you did not approve/);
    await declining.close();

    // Each round is a row: the one that only asked is input_required, never ok (a declined call shows no success).
    const calls = (rows: AuditRow[]) => rows.filter((row) => row.method === "tools/call" && row.tool === "drop_table");
    const rows = calls(await waitForAuditRows(system.databaseUrl, { kind: "mcp.request" }, (rows) => calls(rows).length >= 4));
    expect(rows.map((row) => row.outcome)).toEqual(["input_required", "ok", "input_required", "error"]);
  });

  it("refuses a client that cannot show prompts", async () => {
    const client = await modernClient();
    await expect(client.callTool({ name: "drop_table", arguments: {} })).rejects.toThrow(/cannot show prompts/);
    await client.close();
  });

  it("asks a 2025-era client on its session", async () => {
    const client = new ClientV1({ name: "approval-v1", version: "1" }, { capabilities: { elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params.message);
      return { action: "accept", content: { approve: true } };
    });
    await client.connect(new TransportV1(url(), { authProvider: provider as never }));
    const result = await client.callTool({ name: "drop_table", arguments: { text: "orders" } });
    expect(result.content).toEqual([{ type: "text", text: 'drop_table on db: {"text":"orders"}' }]);
    expect(asked[0]).toContain('"text": "orders"');
    await client.close();

    const rows = await waitForAuditRows(system.databaseUrl, { kind: "mcp.approval" }, (rows) => rows.length >= 4);
    expect(rows.map((row) => row.outcome).sort()).toEqual(["denied", "error", "ok", "ok"]);
  });
});
