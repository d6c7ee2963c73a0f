import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedV2,
} from "@modelcontextprotocol/client";
import { UnauthorizedError as UnauthorizedV1 } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/everything`);
const registeredClientId = (provider: InMemoryOAuthProvider) => (provider.clientInformation() as { client_id: string }).client_id;

describe("the vertical path: OAuth at the edge, relay through the origin, a stdio upstream, an audit row", () => {
  it("works for a 2026-07-28 client (SDK v2, version negotiation auto)", async () => {
    const provider = new InMemoryOAuthProvider();
    const client = new ClientV2({ name: "e2e-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await expect(client.connect(new TransportV2(mcpUrl(), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedV2);

    const callback = await provider.signInHeadlessly();
    await new TransportV2(mcpUrl(), { authProvider: provider }).finishAuth(callback);
    expect(provider.accessToken).toBeTruthy();

    await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain("echo");
    const result = await client.callTool({ name: "echo", arguments: { message: "hello from v2" } });
    expect(result.content).toEqual([{ type: "text", text: "Echo: hello from v2" }]);
    await client.close();

    const rows = await waitForAuditRows(system.databaseUrl, { clientId: registeredClientId(provider) }, (rows) =>
      rows.some((row) => row.tool === "echo"),
    );
    const call = rows.find((row) => row.method === "tools/call");
    expect(call).toMatchObject({
      kind: "mcp.request",
      user_email: "dev@example.com",
      server: "everything",
      tool: "echo",
      outcome: "ok",
      protocol_version: "2026-07-28",
    });
    expect(call?.latency_ms).toBeGreaterThan(0);
    expect(rows.some((row) => row.kind === "auth.sign_in" && row.user_email === "dev@example.com")).toBe(true);
  });

  it("works for a 2025-11-25 client (SDK v1)", async () => {
    const provider = new InMemoryOAuthProvider();
    const client = new ClientV1({ name: "e2e-v1", version: "1.0.0" });
    const firstTransport = new TransportV1(mcpUrl(), { authProvider: provider as never });
    await expect(client.connect(firstTransport)).rejects.toBeInstanceOf(UnauthorizedV1);

    const callback = await provider.signInHeadlessly();
    await firstTransport.finishAuth(callback.get("code") ?? "");
    expect(provider.accessToken).toBeTruthy();

    await client.connect(new TransportV1(mcpUrl(), { authProvider: provider as never }));
    const result = await client.callTool({ name: "echo", arguments: { message: "hello from v1" } });
    expect(result.content).toEqual([{ type: "text", text: "Echo: hello from v1" }]);
    await client.close();

    const rows = await waitForAuditRows(system.databaseUrl, { clientId: registeredClientId(provider) }, (rows) =>
      rows.some((row) => row.tool === "echo"),
    );
    expect(rows.find((row) => row.method === "initialize")).toMatchObject({ outcome: "ok", protocol_version: "2025-11-25" });
    expect(rows.find((row) => row.method === "tools/call")).toMatchObject({
      user_email: "dev@example.com",
      server: "everything",
      tool: "echo",
      outcome: "ok",
    });
  });

  it("refuses an MCP request with a token the edge did not issue, and audits the refusal", async () => {
    const since = new Date();
    const response = await fetch(mcpUrl(), {
      method: "POST",
      headers: {
        authorization: "Bearer not-a-token-of-ours",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("invalid_token");

    const rows = await waitForAuditRows(system.databaseUrl, { kind: "auth.denied", since }, (found) => found.length > 0);
    expect(rows[0]).toMatchObject({
      kind: "auth.denied",
      outcome: "denied",
      server: "everything",
      client_id: null,
      user_sub: null,
    });
  });
});
