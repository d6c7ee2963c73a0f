import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../../aws/origin/db/pool.ts";
import { LOCK_FILE, lockDataDir } from "../../local/data-dir-lock.ts";
import { EMBEDDED_POOL_MAX, type EmbeddedPostgres, startEmbeddedPostgres } from "../../local/embedded-postgres.ts";

const URL_FORM = /^postgres:\/\/postgres@127\.0\.0\.1:(\d+)\/postgres$/;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe("embedded PostgreSQL", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "mcp-edge-embedded-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("listens on the port the system picks for 0 and answers plain pg", async () => {
    const database = await startEmbeddedPostgres({ dataDir: join(root, "port-zero"), port: 0 });
    try {
      const port = Number(URL_FORM.exec(database.url)?.[1]);
      expect(port).toBeGreaterThan(0);
      const row = await withClient(
        database.url,
        async (client) => (await client.query("SELECT 41 + $1::int AS answer", [1])).rows[0],
      );
      expect(row).toEqual({ answer: 42 });
    } finally {
      await database.close();
    }
  });

  it("creates a missing data directory and keeps its data across a restart", async () => {
    const dataDir = join(root, "nested", "data");
    const first = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      await withClient(first.url, async (client) => {
        await client.query("CREATE TABLE kept (note text)");
        await client.query("INSERT INTO kept VALUES ($1)", ["still here"]);
      });
    } finally {
      await first.close();
    }
    expect(existsSync(dataDir)).toBe(true);

    const second = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      const rows = await withClient(second.url, async (client) => (await client.query("SELECT note FROM kept")).rows);
      expect(rows).toEqual([{ note: "still here" }]);
    } finally {
      await second.close();
    }
  });

  it("reports a port in use, without opening the data directory", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = join(root, "never-opened");
    try {
      const start = startEmbeddedPostgres({ dataDir, port });
      await expect(start).rejects.toThrow(`port ${port} is already in use`);
      await expect(start).rejects.toThrow(/choose another port, or set DATABASE_URL/);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("reports a port held by another embedded database", async () => {
    const running = await startEmbeddedPostgres({ dataDir: join(root, "running"), port: 0 });
    try {
      const port = Number(URL_FORM.exec(running.url)?.[1]);
      await expect(startEmbeddedPostgres({ dataDir: join(root, "second"), port })).rejects.toThrow(
        `port ${port} is already in use`,
      );
      // The running one is unaffected.
      expect(await withClient(running.url, async (client) => (await client.query("SELECT 1 AS one")).rows)).toEqual([{ one: 1 }]);
    } finally {
      await running.close();
    }
  });

  // s27 failure hunt F3: only the same port stopped a second copy; on other ports both wrote the one folder, and one
  // side's rows were lost at the next start.
  it("refuses a second process's start on a data folder in use, whatever its port, and leaves the first alone", async () => {
    const dataDir = join(root, "locked");
    const first = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      await expect(startEmbeddedPostgres({ dataDir, port: 0 })).rejects.toThrow(
        `the embedded PostgreSQL's data folder ${dataDir} is in use by process ${process.pid} (another npm start?)`,
      );
      expect(await withClient(first.url, async (client) => (await client.query("SELECT 1 AS one")).rows)).toEqual([{ one: 1 }]);
    } finally {
      await first.close();
    }
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    const again = await startEmbeddedPostgres({ dataDir, port: 0 });
    await again.close();
  });

  it("takes over the lock of a process that is gone (a crash), and holds it itself", async () => {
    const dataDir = join(root, "stale-lock");
    await mkdir(dataDir, { recursive: true });
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(join(dataDir, LOCK_FILE), `${gone}\n`);
    const database = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      expect(await readFile(join(dataDir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
    } finally {
      await database.close();
    }
  });

  // s27 review R3: starts that all read a dead process's lock could both take the folder (the second removed the
  // first's fresh lock), about once in thirty races.
  it("lets exactly one of three starts racing for a dead process's lock take the folder", async () => {
    const dataDir = join(root, "raced-lock");
    await mkdir(dataDir, { recursive: true });
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    for (let round = 0; round < 200; round++) {
      await writeFile(join(dataDir, LOCK_FILE), `${gone}\n`);
      // Started a moment apart, so that some read the dead lock while another is taking it over.
      const start = (delay: number) => sleep(delay).then(() => lockDataDir(dataDir));
      const racers = await Promise.allSettled([start(0), start(round % 3), start(round % 5)]);
      const winners = racers.flatMap((racer) => (racer.status === "fulfilled" ? [racer.value] : []));
      expect(winners, `round ${round}`).toHaveLength(1);
      await winners[0]?.();
    }
    expect(await readdir(dataDir)).toEqual([]);
  });

  describe("with several clients", () => {
    let database: EmbeddedPostgres;
    beforeAll(async () => {
      database = await startEmbeddedPostgres({ dataDir: join(root, "shared"), port: 0 });
    });
    afterAll(async () => {
      await database?.close();
    });

    it("serves several connections at once", async () => {
      const clients = [new pg.Client(database.url), new pg.Client(database.url), new pg.Client(database.url)];
      await Promise.all(clients.map((client) => client.connect()));
      try {
        const rows = await Promise.all(
          clients.map(async (client, i) => (await client.query("SELECT $1::int AS i", [i])).rows[0]),
        );
        expect(rows).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
      } finally {
        await Promise.all(clients.map((client) => client.end()));
      }
    });

    it("answers every query right through a pool of EMBEDDED_POOL_MAX, even queries larger than one TCP read", async () => {
      // With a larger pool, pglite-socket interleaves such queries' protocol messages and some
      // fail with "bind message supplies 2 parameters, but prepared statement "" requires 1".
      const pool = createPool(database.url, { max: EMBEDDED_POOL_MAX });
      try {
        const big = "x".repeat(300_000);
        const answers = await Promise.all(
          Array.from({ length: 60 }, async (_, i) =>
            i % 2 === 0
              ? (await pool.query("SELECT length($1::text) AS n, $2::int AS i", [big, i])).rows[0]
              : (await pool.query("SELECT $1::int AS i", [i])).rows[0],
          ),
        );
        expect(answers).toEqual(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? { n: big.length, i } : { i })));
      } finally {
        await pool.end();
      }
    });

    it("can be closed twice", async () => {
      const other = await startEmbeddedPostgres({ dataDir: join(root, "closed-twice"), port: 0 });
      await other.close();
      await expect(other.close()).resolves.toBeUndefined();
      await expect(withClient(other.url, async () => undefined)).rejects.toThrow(/ECONNREFUSED/);
    });
  });
});
