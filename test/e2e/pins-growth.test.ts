import { fileURLToPath } from "node:url";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_RESOURCE_PINS } from "../../aws/origin/pinning/definition-pins.ts";
import { freePort } from "../../local/free-port.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// A user's notes servers list thousands of new resources at once (s22 growth hunt G1, G4): each was a pin and an
// origin audit event, written one at a time, and the origin's line of 10,000 waiting events filled and gave up the
// rest. Two servers: 20,000 sightings, more than that line holds.
const NOTES = fileURLToPath(new URL("../fixtures/notes-upstream/server.ts", import.meta.url));
const PAST_BOUND = 300;
let system: Awaited<ReturnType<typeof startTestSystem>>;
let metricsPort: number;
beforeAll(async () => {
  metricsPort = await freePort();
  system = await startTestSystem({
    originFile: {
      path: "pins growth test",
      content: {
        metrics: { port: metricsPort },
        servers: {
          // Per-user servers whose resources are pinned when told (pinResources), as here to reach the bound.
          notes: { transport: "stdio", command: process.execPath, args: [NOTES], pinResources: true },
          files: { transport: "stdio", command: process.execPath, args: [NOTES], pinResources: true },
        },
      },
    },
  });
}, 180_000);
afterAll(async () => {
  await system?.close();
});

async function signedInClient(server: string): Promise<Client> {
  const url = new URL(`${system.edgeUrl}/mcp/${server}`);
  const provider = new InMemoryOAuthProvider();
  await new Client({ name: "sign-in", version: "1" })
    .connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))
    .catch(() => {});
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
  const client = new Client({ name: "pins-growth", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return client;
}

/**
 * How long one request of this test may take: the first listing pins 10,000 names, which takes half a minute alone
 * and more than the SDK's default minute beside the rest of the suite on two cores (a CI run timed out there).
 */
const SLOW_REQUEST = { timeout: 240_000 };

/** How many resources the client is shown, every page, after its server made MAX_RESOURCE_PINS + PAST_BOUND notes. */
async function listedAfterAdding(client: Client): Promise<number> {
  await client.callTool({ name: "add_notes", arguments: { count: MAX_RESOURCE_PINS + PAST_BOUND } }, SLOW_REQUEST);
  let listed = 0;
  let cursor: string | undefined;
  do {
    const page = await client.listResources(cursor ? { cursor } : {}, SLOW_REQUEST);
    listed += page.resources.length;
    cursor = page.nextCursor;
  } while (cursor);
  return listed;
}

describe("servers listing more resources than are pinned", () => {
  it("pins the first 10,000 of each, serves the rest unpinned, and stores every sighting's audit event", async () => {
    const clients = [await signedInClient("notes"), await signedInClient("files")];
    const db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    try {
      const listed = await Promise.all(clients.map(listedAfterAdding));
      expect(listed).toEqual([MAX_RESOURCE_PINS + PAST_BOUND, MAX_RESOURCE_PINS + PAST_BOUND]);
      const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]?.n;
      const pinned = "SELECT count(*)::int AS n FROM pinned_definitions WHERE kind = 'resource' GROUP BY server";
      expect((await db.query<{ n: number }>(pinned)).rows.map((row) => row.n)).toEqual([MAX_RESOURCE_PINS, MAX_RESOURCE_PINS]);
      const sightings =
        "SELECT count(*)::int AS n FROM audit_events WHERE kind = 'definition.first_seen' AND method = 'resource'";
      await expect.poll(() => count(sightings), { timeout: 120_000, interval: 1_000 }).toBe(2 * MAX_RESOURCE_PINS);
      expect(system.output().filter((line) => line.includes("is lost, never stored"))).toEqual([]);
      expect(system.output().filter((line) => line.includes("pinned resources or more"))).toHaveLength(2);
      // Counted for an alarm too (s22 review R2): every sighting past the bound, per server.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      for (const server of ["notes", "files"]) {
        const line = metrics.split("\n").find((one) => one.startsWith(`mcp_origin_unpinned_resources_total{server="${server}"}`));
        expect(Number(line?.split(" ").pop())).toBeGreaterThanOrEqual(PAST_BOUND);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await db.end();
    }
  }, 600_000);
});
