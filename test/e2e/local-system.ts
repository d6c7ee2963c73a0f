import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../local/free-port.ts";
import { type LocalSystem, type LocalSystemOptions, startLocalSystem } from "../../local/system.ts";

/** The most output lines kept: a bench's system runs for minutes and prints a line per request. */
const KEPT_LINES = 50_000;

/**
 * Starts the whole local system exactly as `npm start` does, on free ports and a temporary data folder
 * (or the PostgreSQL server in DATABASE_URL). The latest output is kept (tests may read it) and printed only if
 * start-up fails.
 */
export async function startTestSystem(
  options: Pick<
    LocalSystemOptions,
    "originInstances" | "originFile" | "groupsFreshness" | "autoSignIn" | "edgeKey" | "affinityTiming"
  > = {},
): Promise<LocalSystem & { dataDir: string; ports: LocalSystemOptions["ports"]; output(): readonly string[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-edge-e2e-"));
  const output: string[] = [];
  const ports = {
    edge: await freePort(),
    edgeInspector: await freePort(),
    origin: await freePort(),
    idp: await freePort(),
    database: await freePort(),
    originInstances: await Promise.all(Array.from({ length: options.originInstances ?? 1 }, () => freePort())),
  };
  try {
    const system = await startLocalSystem({
      ports,
      dataDir,
      databaseUrl: process.env.DATABASE_URL || undefined,
      ...options,
      log: (part, line) => {
        // Trimmed in chunks, not per line, so that keeping the output costs a bench nothing measurable.
        if (output.push(`[${part}] ${line}`) > 2 * KEPT_LINES) output.splice(0, output.length - KEPT_LINES);
      },
    });
    return {
      ...system,
      dataDir,
      ports,
      /** What the parts printed (at least the latest 50,000 lines), one line each, prefixed with the part's name. */
      output: () => output,
      close: async () => {
        await system.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    console.error(output.join("\n"));
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}
