import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { signedInProvider } from "./oauth-client.ts";

// The local system reads groups from the id_token or, with the fake Google Workspace, as group addresses.
const ENGINEERING = ["engineering", "engineering@example.com"];
const OPS = ["ops", "ops@example.com"];

// One address for everything a user may use: real SDK clients of both eras sign in to `/mcp` and see the tools of
// every server the policy lets them use, under names that never collide, and nothing else.
let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "aggregate test",
      content: {
        servers: {
          alpha: catalogServer({ name: "alpha", tools: [{ name: "search" }], growable: true }),
          beta: catalogServer({
            name: "beta",
            tools: [{ name: "search" }, { name: "drop_table", annotations: { destructiveHint: true } }],
            prompts: ["triage"],
            resources: ["beta://notes"],
          }),
          vault: catalogServer({ name: "vault", tools: [{ name: "open" }] }),
        },
        policy: {
          rules: [
            { effect: "allow", who: { everyone: true }, servers: ["alpha", "beta"] },
            { description: "only ops opens the vault", effect: "allow", who: { groups: OPS }, servers: ["vault"] },
            {
              description: "engineers drop nothing",
              effect: "deny",
              who: { groups: ENGINEERING },
              servers: ["*"],
              tools: ["drop_*"],
            },
          ],
        },
      },
    },
  });
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp`);

const signedIn = () => signedInProvider(mcpUrl());

describe("the aggregated /mcp through the edge (signed in as dev@example.com, group engineering)", () => {
  it("serves a 2026-07-28 client every permitted tool, routes calls, and refuses by policy without the upstream", async () => {
    const provider = await signedIn();
    const client = new ClientV2({ name: "aggregate-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    expect(client.getInstructions()).toContain("combines the MCP servers you may use: alpha, beta.");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["alpha__add_tool", "alpha__search", "beta__search"]);
    const alpha = await client.callTool({ name: "alpha__search", arguments: { text: "a" } });
    expect(alpha.content).toEqual([{ type: "text", text: 'search on alpha: {"text":"a"}' }]);
    const beta = await client.callTool({ name: "beta__search", arguments: {} });
    expect(beta.content).toEqual([{ type: "text", text: "search on beta: {}" }]);
    // A refused server is not there on /mcp: its tool is unknown, as a name of no server is (audited denied below).
    await expect(client.callTool({ name: "vault__open", arguments: {} })).rejects.toThrow(/unknown tool "vault__open"/);
    await expect(client.callTool({ name: "beta__drop_table", arguments: {} })).rejects.toThrow(/engineers drop nothing/);
    const prompt = await client.getPrompt({ name: "beta__triage" });
    expect(JSON.stringify(prompt.messages)).toContain("triage on beta");
    const read = await client.readResource({ uri: "beta://notes" });
    expect(JSON.stringify(read.contents)).toContain("beta://notes on beta");
    await client.close();

    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const rows = await waitForAuditRows(
      system.databaseUrl,
      { clientId },
      (rows) => rows.filter((row) => row.outcome === "denied").length >= 2 && rows.some((row) => row.method === "resources/read"),
    );
    // Audited as on /mcp/<server>: under the server the request went to, with the upstream's own tool or prompt name
    // (the origin labels where it routed), the resource's URI.
    const denied = rows.filter((row) => row.outcome === "denied").map((row) => `${row.server} ${row.tool}`);
    expect(denied.sort()).toEqual(["beta drop_table", "vault open"]);
    const used = (method: string) => rows.filter((row) => row.method === method).map((row) => `${row.server} ${row.tool}`);
    expect(used("tools/call").filter((row) => !denied.includes(row))).toEqual(["alpha search", "beta search"]);
    expect(used("prompts/get")).toEqual(["beta triage"]);
    expect(used("resources/read")).toEqual(["beta beta://notes"]);
  });

  it("serves a 2025-11-25 client the same through its session", async () => {
    const provider = await signedIn();
    const client = new ClientV1({ name: "aggregate-v1", version: "1.0.0" });
    await client.connect(new TransportV1(mcpUrl(), { authProvider: provider as never }));
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["alpha__add_tool", "alpha__search", "beta__search"]);
    const result = await client.callTool({ name: "beta__search", arguments: { text: "b" } });
    expect(result.content).toEqual([{ type: "text", text: 'search on beta: {"text":"b"}' }]);
    const refused = await client.callTool({ name: "vault__open", arguments: {} }).catch((error: Error) => error);
    expect(String(refused)).toMatch(/unknown tool "vault__open"/);
    // A list change on one server reaches the session's GET stream (fed by the merged listen of every server).
    const changed = new Promise<void>((resolve) =>
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
    );
    await client.callTool({ name: "alpha__add_tool", arguments: {} });
    await changed;
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain("alpha__added_1");
    const read = await client.readResource({ uri: "beta://notes" });
    expect(JSON.stringify(read.contents)).toContain("beta://notes on beta");
    await client.close();

    // Audited as a 2026-07-28 client's requests are: the refused server's name as denied, the resource under the
    // server the origin routed it to (only its router knows), not under the aggregated endpoint.
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const rows = await waitForAuditRows(system.databaseUrl, { clientId }, (rows) =>
      rows.some((row) => row.method === "resources/read"),
    );
    const outcomes = (method: string) =>
      rows.filter((row) => row.method === method).map((row) => `${row.server} ${row.tool} ${row.outcome}`);
    expect(outcomes("tools/call").sort()).toEqual(["alpha add_tool ok", "beta search ok", "vault open denied"]);
    expect(outcomes("resources/read")).toEqual(["beta beta://notes ok"]);
  });

  it("refuses a 2025-era client's initialize on a server the policy keeps from it as denied (-32003), as it does a 2026-07-28 client", async () => {
    const provider = await signedIn();
    const since = new Date();
    const initialize = await fetch(`${system.edgeUrl}/mcp/vault`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${provider.accessToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "legacy-vault", version: "1" } },
      }),
    });
    expect(initialize.status).toBe(403);
    expect(await initialize.json()).toMatchObject({
      id: 0,
      error: { code: -32003, message: expect.stringMatching(/refused by policy/) },
    });
    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const rows = await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => rows.length >= 1);
    expect(rows.map((row) => [row.kind, row.method, row.server, row.outcome])).toEqual([
      ["mcp.request", "initialize", "vault", "denied"],
    ]);
  });
});
