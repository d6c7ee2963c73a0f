import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../local/free-port.ts";
import { startLocalSystem } from "../../local/system.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function occupy(port: number): Promise<void> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function ports() {
  return {
    edge: await freePort(),
    edgeInspector: await freePort(),
    origin: await freePort(),
    idp: await freePort(),
    database: await freePort(),
  };
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mcp-local-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("the local system starts whole or not at all", () => {
  it("names a taken origin port and the variable that moves it, and stops what it had started", async () => {
    const chosen = await ports();
    await occupy(chosen.origin);
    const start = startLocalSystem({ ports: chosen, dataDir: await dataDir(), log: () => {} });
    await expect(start).rejects.toThrow(
      new RegExp(
        `^origin failed to start: port ${chosen.origin} on 127\\.0\\.0\\.1 is already in use: stop what holds it, or choose another with ORIGIN_PORT\\b.*set ORIGIN_PORT to use another port`,
      ),
    );
    // Not the origin's own PORT, which npm start sets itself.
    await expect(start).rejects.not.toThrow(/origin\.port/);
    // The identity provider and the embedded database were started first: they must be gone again.
    expect(await canListen(chosen.idp)).toBe(true);
    expect(await canListen(chosen.database)).toBe(true);
  });

  it("refuses a taken edge port instead of letting wrangler move elsewhere", async () => {
    const chosen = await ports();
    await occupy(chosen.edge);
    await expect(startLocalSystem({ ports: chosen, dataDir: await dataDir(), log: () => {} })).rejects.toThrow(
      new RegExp(
        `edge \\(wrangler dev\\) failed to start: port ${chosen.edge} .* already in use: stop what holds it, or choose another with EDGE_PORT\\. A wrangler dev left by an earlier npm start .*pkill -f "wrangler\\(\\\\\\.js\\|-dist/cli\\\\\\.js\\) dev \\.\\*--\\(inspector-\\)\\?port ${chosen.edge}\\( \\|\\$\\)"`,
      ),
    );
    expect(await canListen(chosen.origin)).toBe(true);
  });

  it("says which settings of the file it sets itself (loopback only, its own ports and database)", async () => {
    const chosen = await ports();
    await occupy(chosen.idp); // it stops right after planning
    const lines: string[] = [];
    const start = startLocalSystem({
      ports: chosen,
      dataDir: await dataDir(),
      originFile: {
        path: "proxy.config.json (origin section)",
        content: { host: "0.0.0.0", port: 9999, stdio: { maxProcesses: 5 } },
      },
      log: (part, line) => lines.push(`[${part}] ${line}`),
    });
    await expect(start).rejects.toThrow(/identity provider failed to start/);
    expect(lines).toContain("[origin] npm start sets host, port itself: the configuration file's values are not used");
  });

  // s28 docs hunt D1: npm start passed none of the edge's variables on, without a word (IDP_ALLOWED_DOMAINS=… npm start
  // ran with every domain allowed).
  it("takes the edge settings it is given: a wrong value stops it before anything starts, naming the variable", async () => {
    const chosen = await ports();
    await occupy(chosen.idp); // taken, the settings were read: it stops right after planning
    const dir = await dataDir();
    const start = (edgeSettings: Record<string, string>) =>
      startLocalSystem({ ports: chosen, dataDir: dir, edgeSettings, log: () => {} });
    await expect(start({ ACCESS_TOKEN_TTL_SECONDS: "five" })).rejects.toThrow(/environment ACCESS_TOKEN_TTL_SECONDS/);
    await expect(start({ ACCESS_TOKEN_TTL_SECONDS: "300" })).rejects.toThrow(/identity provider failed to start/);
  });

  // s28 review R6: such a value stopped the start only after the origins were up.
  it("stops an edge setting its env file cannot hold before anything starts", async () => {
    const lines: string[] = [];
    const edgeSettings = { EDGE_DISPLAY_NAME: "Acme's" };
    const log = (part: string, line: string) => lines.push(`[${part}] ${line}`);
    const start = startLocalSystem({ ports: await ports(), dataDir: await dataDir(), edgeSettings, log });
    await expect(start).rejects.toThrow("EDGE_DISPLAY_NAME cannot be written to an env file: it contains a quote or a newline");
    expect(lines).toEqual([]); // nothing was started, so nothing was stopped
  });

  it("stops a configuration with a wrong key before anything starts, naming it", async () => {
    const chosen = await ports();
    const start = startLocalSystem({
      ports: chosen,
      dataDir: await dataDir(),
      originFile: { path: "proxy.config.json (origin section)", content: { stdio: { maxProcesses: 0 } } },
      log: () => {},
    });
    await expect(start).rejects.toThrow(/stdio\.maxProcesses \(from proxy\.config\.json \(origin section\)\)/);
    expect(await canListen(chosen.idp)).toBe(true);
    expect(await canListen(chosen.database)).toBe(true);
  });
});
