import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { legacyClient, modernClient, signIn } from "../bench/clients.ts";
import { runCell } from "../bench/load.ts";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem();
});
afterAll(async () => {
  await system?.close();
});

const CLIENTS_PER_ERA = 8;

/**
 * The requests of one isolate share an audit batch. A request that awaited a promise another request had made was
 * cancelled by the runtime as hung ("your Worker's code had hung"), with a warning about a promise resolved from
 * another request's context: errors in the logs under load, and a batch whose sending depended on one request's life.
 * The load is the benchmark's (test/bench): SDK clients open the sessions, then their recorded call is replayed.
 */
describe("audit under concurrent calls of both eras", () => {
  it("audits every call, and the runtime cancels no request's wait as hung", async () => {
    const url = new URL(`${system.edgeUrl}/mcp/everything`);
    const provider = await signIn(url);
    const since = new Date();
    const modern = await Promise.all(Array.from({ length: CLIENTS_PER_ERA }, () => modernClient(url, provider)));
    const legacy = await Promise.all(Array.from({ length: CLIENTS_PER_ERA }, () => legacyClient(url, provider)));
    let calls = modern.length + legacy.length; // each client's own first call
    for (const clients of [modern, legacy, [...modern, ...legacy]]) {
      const cell = await runCell(clients, 0, 2);
      expect(cell.errors, cell.firstError).toBe(0);
      calls += cell.samples.length;
    }
    await Promise.all([...modern, ...legacy].map((client) => client.close()));

    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const echoes = (rows: { tool: string | null }[]) => rows.filter((row) => row.tool === "echo");
    const rows = await waitForAuditRows(system.databaseUrl, { clientId, since }, (rows) => echoes(rows).length >= calls);
    expect(echoes(rows)).toHaveLength(calls);
    const edge = system.output().filter((line) => line.startsWith("[edge]"));
    expect(edge.filter((line) => /had hung|different request context/.test(line))).toEqual([]);
  });
});
