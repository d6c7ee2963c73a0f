import { connect } from "node:net";
import { parseErrorResponse } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrigin } from "../../aws/origin/start-origin.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { testOriginConfig } from "./origin-under-test.ts";
import { DATABASE_SECRET_ID, refusingEveryVersion } from "./password-checking-postgres.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await withTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe("the origin's HTTP server", () => {
  it("leaves the global Response alone, so the SDK's OAuth helpers still read an error answer as one", async () => {
    const running = await startOrigin(await testOriginConfig(database), () => {});
    try {
      // Served once, so that the server's request listener exists (that is where the globals would be replaced).
      const answer = await fetch(`${running.url}/no-such-route`);
      expect(answer).toBeInstanceOf(Response);
      expect(answer.status).toBe(404);
      // An authorization server's refusal, fetched as the SDK fetches it: its code survives.
      const refusal = await fetch(`data:application/json,${encodeURIComponent('{"error":"invalid_grant"}')}`);
      expect((await parseErrorResponse(refusal)).code).toBe("invalid_grant");
    } finally {
      await running.close();
    }
  });
});

describe("what the origin says at start", () => {
  it("says when it serves no server at all (a file whose servers were lost, a variable not set)", async () => {
    const lines: string[] = [];
    const running = await startOrigin(await testOriginConfig(database), (line) => lines.push(line));
    await running.close();
    expect(lines.join("\n")).toContain("no servers configured: every MCP request will be told its server does not exist");
    const served: string[] = [];
    const servers = { docs: { transport: "stdio", command: "docs-mcp" } };
    const withServers = await startOrigin(await testOriginConfig(database, { servers }), (line) => served.push(line));
    await withServers.close();
    expect(served.join("\n")).not.toContain("no servers configured");
  });

  it("names each stdio server whose command is not installed where its children look, and no other", async () => {
    const lines: string[] = [];
    const servers = {
      gone: { transport: "stdio", command: "no-such-mcp-server-anywhere" },
      moved: { transport: "stdio", command: "/nonexistent/bin/mcp-server" },
      here: { transport: "stdio", command: "node" },
      bare: { transport: "stdio", command: "node", env: { PATH: "/nonexistent/bin" } },
      http: { transport: "http", url: "https://api.example.com/mcp" },
    };
    const running = await startOrigin(await testOriginConfig(database, { servers }), (line) => lines.push(line));
    await running.close();
    const said = lines.filter((line) => line.includes("is not found"));
    expect(said).toEqual([
      expect.stringContaining('server "gone": its command "no-such-mcp-server-anywhere" is not found on the children\'s PATH'),
      expect.stringContaining(
        'server "moved": its command "/nonexistent/bin/mcp-server" is not found at /nonexistent/bin/mcp-server',
      ),
      expect.stringContaining('server "bare": its command "node" is not found on the children\'s PATH'),
    ]);
  });

  it("refuses a server's secret named like one of its own settings, which a local run would never hand out", async () => {
    const servers = {
      pg: { transport: "stdio", command: "pg-mcp", env: { DATABASE_URL: { secret: "DATABASE_URL" }, MODE: "read-only" } },
      api: { transport: "http", url: "https://api.example.com/mcp", headers: { "x-key": { secret: "AWS_SECRET_ACCESS_KEY" } } },
      ok: { transport: "stdio", command: "ok-mcp", env: { DATABASE_URL: { secret: "POSTGRES_MCP_URL" } } },
    };
    const refused = startOrigin(await testOriginConfig(database, { servers }), () => {});
    await expect(refused).rejects.toThrow(
      /servers\.pg\.env\.DATABASE_URL: names the secret "DATABASE_URL", which is a name the origin keeps for its own settings/,
    );
    await expect(refused).rejects.toThrow(/servers\.api\.headers\.x-key: names the secret "AWS_SECRET_ACCESS_KEY"/);
    await expect(refused).rejects.not.toThrow(/servers\.ok/);
  });
});

describe("the origin's database at start", () => {
  it("names where it could not connect, and the setting to fix, never the password", async () => {
    const config = await testOriginConfig(database, { databaseUrl: "postgres://origin:s3cret-pw@127.0.0.1:1/mcp" });
    const refused = startOrigin(config, () => {});
    await expect(refused).rejects.toThrow(
      "cannot connect to the database at 127.0.0.1:1 (named by DATABASE_URL): connection refused: check the host and port in DATABASE_URL",
    );
    await expect(refused).rejects.not.toThrow(/s3cret-pw/);
  });

  it("with DATABASE_PASSWORD_SECRET, a login refused under every version of the secret names the secret to check, never a password", async () => {
    const { server, awsEnv, close } = await refusingEveryVersion();
    const saved = { ...process.env };
    Object.assign(process.env, awsEnv);
    try {
      const config = await testOriginConfig(database, {
        databaseUrl: `postgres://origin@127.0.0.1:${server.port}/mcp`,
        databasePasswordSecret: DATABASE_SECRET_ID,
        databaseMigrate: "verify",
      });
      const refused = startOrigin(config, () => {});
      await expect(refused).rejects.toThrow(
        `the database at 127.0.0.1:${server.port} (named by DATABASE_URL) refused the login: password authentication failed for user "u": check the user name in DATABASE_URL (or PGUSER) and the password in Secrets Manager's proxy/database-app (DATABASE_PASSWORD_SECRET: its current, pending and previous versions were tried)`,
      );
      await expect(refused).rejects.not.toThrow(/current-pw|previous-pw/);
      expect(server.attempts).toEqual(["current-pw", "previous-pw"]);
    } finally {
      process.env = saved;
      await close();
    }
  });

  it("refuses a DATABASE_URL whose password holds a # unencoded, saying how to write it", async () => {
    const config = await testOriginConfig(database, { databaseUrl: "postgres://origin:pa#ss@db.internal:5432/mcp" });
    await expect(startOrigin(config, () => {})).rejects.toThrow(/percent-encode special characters such as # in the password/);
  });
});

describe("the origin's schema check at start", () => {
  it("with databaseMigrate verify, refuses an unmigrated database naming the command, and creates nothing", async () => {
    const fresh = await withTestDatabase();
    try {
      const config = await testOriginConfig(fresh, { databaseMigrate: "verify" });
      await expect(startOrigin(config, () => {})).rejects.toThrow(/the database schema is not current: .*migrate-cli\.ts/);
      const { rows } = await fresh.pool.query("SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public'");
      expect(rows[0].tables).toBe(0);
    } finally {
      await fresh.close();
    }
  });
});

describe("stopping the origin", () => {
  it("cuts a request still open when its grace is over (a listen stream never ends by itself), and not before", async () => {
    const running = await startOrigin(await testOriginConfig(database), () => {});
    const { port } = new URL(running.url);
    // A request whose headers never finish: to the server, a request in flight.
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("GET /healthz HTTP/1.1\r\nHost: origin\r\n");
    const socketClosed = new Promise((resolve) => socket.once("close", resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    let stopped = false;
    const stopping = running.close({ graceMs: 1500 }).then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(stopped).toBe(false);
    await stopping;
    await socketClosed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });
});
