import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// What a client sent, through the whole system (edge, queue, origin, PostgreSQL), against what the row says and what
// the audit CLI prints (s21 audit-durability hunt: D1, D2, D8).

const UPSTREAM = fileURLToPath(new URL("../fixtures/document-upstream/server.ts", import.meta.url));
const CLI = fileURLToPath(new URL("../../aws/origin/audit/cli.ts", import.meta.url));
const run = promisify(execFile);

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "audit-as-relayed test",
      content: { servers: { documents: { transport: "stdio", command: process.execPath, args: [UPSTREAM] } } },
    },
  });
}, 180_000);
afterAll(async () => {
  await system?.close();
});

async function signedInClient(): Promise<{ client: Client; clientId: string }> {
  const url = new URL(`${system.edgeUrl}/mcp/documents`);
  const provider = new InMemoryOAuthProvider();
  const client = new Client({ name: "audit-as-relayed", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))).rejects.toBeInstanceOf(
    UnauthorizedError,
  );
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return { client, clientId: (provider.clientInformation() as { client_id: string }).client_id };
}

describe("the audit row holds what the edge relayed", () => {
  it("keeps a nested __proto__ object, the real arguments behind padding, and the CSV shows no escape sequence", async () => {
    const { client, clientId } = await signedInClient();
    const document = JSON.parse('{"title":"q3","__proto__":{"owner":"mallory","acl":"public"}}');
    const stored = await client.callTool({ name: "store", arguments: { path: "/srv/doc.json", document } });
    const received = (stored.content as { text: string }[])[0]?.text;
    expect(received).toContain('"__proto__":{"owner":"mallory","acl":"public"}'); // what the upstream acted on
    const real = { path: "/etc/shadow", document: { action: "exfiltrate" } };
    await client.callTool({ name: "store", arguments: { _pad: "x".repeat(9000), ...real } });
    const erasing = "store\x1b[1A\x1b[2K\x1b]0;nothing to see\x07";
    await client.callTool({ name: erasing, arguments: { path: "x" } }).catch(() => {});
    await client.close();

    await waitForAuditRows(
      system.databaseUrl,
      { clientId },
      (rows) => rows.filter((row) => row.method === "tools/call").length >= 3,
    );
    const db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ tool: string; arguments: string }>(
      "SELECT tool, arguments FROM audit_events WHERE client_id = $1 AND method = 'tools/call' ORDER BY time",
      [clientId],
    );
    await db.end();
    expect(rows.map((row) => JSON.parse(row.arguments))).toEqual([
      { path: "/srv/doc.json", document },
      { ...real, _pad: expect.stringContaining("…[truncated from 9000 characters]") },
      { path: "x" },
    ]);
    expect(rows[0]?.arguments).toContain('"__proto__":{"acl":"public","owner":"mallory"}');

    const env = { ...process.env, DATABASE_URL: system.databaseUrl };
    const verified = await run(process.execPath, [CLI, "verify"], { env });
    expect(verified.stdout).toContain("no tampering found");
    const csv = (await run(process.execPath, [CLI, "search", "--format", "csv", "--limit", "50"], { env })).stdout;
    expect(csv).toContain(String.raw`store\u001b[1A\u001b[2K\u001b]0;nothing to see\u0007`);
    expect(csv).not.toContain("\x1b");
  }, 180_000);
});
