import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { HostingError } from "../../aws/origin/hosting/hosting-error.ts";
import { secretsProviderFor } from "../../aws/origin/secrets/select.ts";
import { demoServers } from "../../local/system.ts";
import { isAlive } from "../e2e/process-tree.ts";
import { messagesOf, modernRequest, parkedCall, testHostOptions } from "./modern-request.ts";

const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

type PoolOptions = Parameters<typeof createHostPool>[0];

function pool(
  options: Partial<Pick<PoolOptions, "idleTimeoutMs" | "maxProcesses" | "servers" | "host" | "rotationCheckMs">> = {},
) {
  const created = createHostPool({
    servers: options.servers ?? demoServers(),
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    rotationCheckMs: options.rotationCheckMs,
    maxProcesses: options.maxProcesses ?? 10,
    host: options.host ?? testHostOptions,
    log: () => {},
  });
  pools.push(created);
  return created;
}

const caller = (sub: string) => ({ sub, server: "everything", clientId: "test-client", era: "modern" as const });
const CALLER = caller("alice");

const waitFor = async (condition: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

describe("stdio hosting: one child per user and server", () => {
  it("gives each user their own process and reuses it for the same user", async () => {
    const hosts = pool();
    const alice = await hosts.acquire("everything", caller("alice"));
    const bob = await hosts.acquire("everything", caller("bob"));
    const aliceAgain = await hosts.acquire("everything", caller("alice"));
    expect(alice.host.pid).toBeGreaterThan(0);
    expect(bob.host.pid).not.toBe(alice.host.pid);
    expect(aliceAgain.host).toBe(alice.host);
    expect(hosts.size()).toBe(2);
    for (const lease of [alice, bob, aliceAgain]) lease.release();
  });

  it("stops a child that has been idle too long, but never one still in use", async () => {
    const hosts = pool({ idleTimeoutMs: 200 });
    const busy = await hosts.acquire("everything", caller("busy-user"));
    const idle = await hosts.acquire("everything", caller("idle-user"));
    idle.release();
    await waitFor(() => !isAlive(idle.host.pid as number));
    expect(hosts.size()).toBe(1);
    expect(isAlive(busy.host.pid as number)).toBe(true);
    busy.release();
  });

  it("keeps a child whose user has a call waiting for an answer, however long it sits idle", async () => {
    const hosts = pool({ idleTimeoutMs: 200 });
    const asking = await hosts.acquire("everything", caller("asking-user"));
    const pending = await parkedCall(asking.host, caller("asking-user"));
    asking.release();
    const idle = await hosts.acquire("everything", caller("idle-user"));
    idle.release();
    await waitFor(() => !isAlive(idle.host.pid as number));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(isAlive(asking.host.pid as number)).toBe(true);
    const again = await hosts.acquire("everything", caller("asking-user"));
    expect(again.host).toBe(asking.host);
    expect(await pending.answer()).toHaveProperty("result");
    again.release();
  });

  it("starts a new child when the user's crashed", async () => {
    const hosts = pool();
    const first = await hosts.acquire("everything", caller("alice"));
    first.release();
    process.kill(first.host.pid as number, "SIGKILL");
    await first.host.closed;
    const second = await hosts.acquire("everything", caller("alice"));
    expect(second.host.pid).not.toBe(first.host.pid);
    second.release();
  });

  it("frees the slot of a child whose leftover process still holds its output (a wrapper's, a helper's)", async () => {
    const everything = demoServers().everything;
    if (!everything) throw new Error("the demo server is missing");
    const pidFile = join(await mkdtemp(join(tmpdir(), "leftover-")), "pid");
    // The shell starts a long sleep that inherits the child's stderr pipe, then becomes the server itself.
    const script = `sleep 120 >&2 & echo $! > ${pidFile}; exec "$0" "$@"`;
    const wrapped = { ...everything, command: "sh", args: ["-c", script, everything.command, ...everything.args] };
    const hosts = pool({ servers: { everything: wrapped }, maxProcesses: 1 });
    try {
      const alice = await hosts.acquire("everything", caller("alice"));
      alice.release();
      // The limit is one child: Bob's start waits for Alice's child to be stopped, the sleep holding its pipe.
      const bob = await hosts.acquire("everything", caller("bob"));
      expect(bob.host.pid).not.toBe(alice.host.pid);
      expect(isAlive(alice.host.pid as number)).toBe(false);
      bob.release();
    } finally {
      for (const pid of (await readFile(pidFile, "utf8").catch(() => "")).split("\n").filter(Boolean))
        try {
          process.kill(Number(pid));
        } catch {}
    }
  });

  it("refuses a new child beyond the limit while every child is busy, saying which setting to raise", async () => {
    const hosts = pool({ maxProcesses: 1 });
    const busy = await hosts.acquire("everything", caller("alice"));
    const refused = hosts.acquire("everything", caller("bob"));
    await expect(refused).rejects.toBeInstanceOf(HostingError);
    await expect(refused).rejects.toThrow(
      /limit of 1 upstream connections \(stdio children and HTTP sessions together, setting stdio\.maxProcesses\), all of them busy/,
    );
    expect(isAlive(busy.host.pid as number)).toBe(true);
    busy.release();
  });

  it("names the servers it has when asked for another", async () => {
    await expect(pool().acquire("nope", caller("alice"))).rejects.toThrow(
      'unknown server "nope"; this origin serves: everything',
    );
  });

  it("reports a server whose command cannot start, and tries again on the next request", async () => {
    const hosts = pool({ servers: { broken: { transport: "stdio", command: "/nonexistent/mcp-server", args: [], env: {} } } });
    await expect(hosts.acquire("broken", caller("alice"))).rejects.toThrow(/server "broken" could not be started/);
    expect(hosts.size()).toBe(0);
  });

  it("gives up on a child that runs but never answers the handshake, saying what to look at", async () => {
    const silent = { transport: "stdio" as const, command: "sleep", args: ["30"], env: {} };
    const hosts = pool({ servers: { silent }, host: { ...testHostOptions, connectTimeoutMs: 500 } });
    const started = Date.now();
    await expect(hosts.acquire("silent", caller("alice"))).rejects.toThrow(
      'server "silent" could not be started: no MCP handshake within 0.5 s (relay.connectTimeoutSeconds): the command runs but does not answer on its stdout',
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("leaves a 2025-era child silent on the era probe time for its handshake within the deadline", async () => {
    // Answers initialize only; says nothing to server/discover (as some older servers do).
    const script = [
      'const lines = require("node:readline").createInterface({ input: process.stdin });',
      'lines.on("line", (line) => { const m = JSON.parse(line); if (m.method !== "initialize") return;',
      'const result = { protocolVersion: "2025-06-18", capabilities: {}, serverInfo: { name: "quiet", version: "1" } };',
      'process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result }) + "\\n"); });',
    ].join("\n");
    const quiet = { transport: "stdio" as const, command: process.execPath, args: ["-e", script], env: {} };
    const hosts = pool({ servers: { quiet }, host: { ...testHostOptions, connectTimeoutMs: 3000 } });
    const lease = await hosts.acquire("quiet", caller("alice"));
    expect(lease.host.pid).toBeGreaterThan(0);
    lease.release();
  });

  it("logs how a child that quit by itself ended", async () => {
    const lines: string[] = [];
    const quits = { transport: "stdio" as const, command: "sh", args: ["-c", "exit 3"], env: {} };
    const hosts = createHostPool({
      servers: { quits },
      idleTimeoutMs: 60_000,
      maxProcesses: 10,
      host: testHostOptions,
      log: (line) => lines.push(line),
    });
    pools.push(hosts);
    await expect(hosts.acquire("quits", caller("alice"))).rejects.toThrow(/could not be started/);
    expect(lines.join("\n")).toContain("its process exited by itself, with code 3");
  });

  it("stops every child on close", async () => {
    const hosts = pool();
    const leases = await Promise.all(["a", "b", "c"].map((user) => hosts.acquire("everything", caller(user))));
    await hosts.close();
    expect(leases.map((lease) => isAlive(lease.host.pid as number))).toEqual([false, false, false]);
  });

  it("gives a child only a minimal environment plus its own env, never the origin's secrets", async () => {
    process.env.ORIGIN_SECRET_FOR_TEST = "must-not-leak";
    const everything = demoServers().everything;
    if (!everything) throw new Error("the demo server is missing");
    const hosts = pool({ servers: { everything: { ...everything, env: { UPSTREAM_SETTING: "visible" } } } });
    const lease = await hosts.acquire("everything", caller("alice"));
    try {
      const response = await lease.host.fetch(modernRequest("tools/call", { name: "get-env", arguments: {} }), CALLER);
      const [message] = await messagesOf(response);
      const text = (message?.result as { content?: { text?: string }[] } | undefined)?.content?.[0]?.text;
      expect(text).toBeDefined();
      const childEnv = JSON.parse(text ?? "{}") as Record<string, string>;
      expect(childEnv.UPSTREAM_SETTING).toBe("visible");
      expect(childEnv.PATH).toBeTruthy();
      expect(childEnv).not.toHaveProperty("ORIGIN_SECRET_FOR_TEST");
      expect(childEnv).not.toHaveProperty("DATABASE_URL");
    } finally {
      lease.release();
      delete process.env.ORIGIN_SECRET_FOR_TEST;
    }
  });

  describe("a secret reference in a child's env", () => {
    const origin = { TICKETS_TOKEN: "placeholder-ticket-token", AWS_SECRET_ACCESS_KEY: "placeholder-task-key" };
    const childEnvOf = async (env: Record<string, string | { secret: string }>, logged: string[]) => {
      const everything = demoServers().everything;
      if (!everything) throw new Error("the demo server is missing");
      const hosts = pool({
        servers: { everything: { ...everything, env } },
        // The provider as the origin selects it (relay-options.ts): the environment backend, reasons to the log.
        host: { ...testHostOptions, secrets: secretsProviderFor(origin, (line) => logged.push(line)) },
      });
      const lease = await hosts.acquire("everything", caller("alice"));
      try {
        const response = await lease.host.fetch(modernRequest("tools/call", { name: "get-env", arguments: {} }), CALLER);
        const [message] = await messagesOf(response);
        const text = (message?.result as { content?: { text?: string }[] } | undefined)?.content?.[0]?.text;
        return JSON.parse(text ?? "{}") as Record<string, string>;
      } finally {
        lease.release();
      }
    };

    it("is read from the secrets provider when the child starts", async () => {
      const childEnv = await childEnvOf({ TICKETS_API_TOKEN: { secret: "TICKETS_TOKEN" }, REGION: "eu" }, []);
      expect(childEnv.TICKETS_API_TOKEN).toBe("placeholder-ticket-token");
      expect(childEnv.REGION).toBe("eu");
      expect(childEnv).not.toHaveProperty("TICKETS_TOKEN");
    });

    it.each([
      ["that is not set", "NEVER_SET_ANYWHERE", /secret "NEVER_SET_ANYWHERE" is not set/],
      ["that names the origin's own credentials", "AWS_SECRET_ACCESS_KEY", /"AWS_SECRET_ACCESS_KEY" is a setting of the origin/],
    ])("%s starts no child, tells the caller only that a credential is missing, and the log why", async (_, name, reason) => {
      const logged: string[] = [];
      const failure = await childEnvOf({ TOKEN: { secret: name } }, logged).then(
        () => "started",
        (error: Error) => error.message,
      );
      expect(failure).toContain("the origin could not read a credential this server needs (its log says why)");
      expect(failure).not.toContain(name);
      expect(logged.join("\n")).toMatch(reason);
    });
  });

  describe("rotated under a running child", () => {
    /** A secrets backend whose values the test changes, as a rotation in Secrets Manager would. */
    const rotatable = (values: Record<string, string>) => ({
      values,
      get: async (name: string) => {
        const value = values[name];
        if (value === undefined) throw new Error(`secret "${name}" is not set`);
        return value;
      },
    });
    const rotatingPool = (secrets: ReturnType<typeof rotatable>, idleTimeoutMs = 60_000) => {
      const everything = demoServers().everything;
      if (!everything) throw new Error("the demo server is missing");
      const hosts = pool({
        servers: { everything: { ...everything, env: { TICKETS_API_TOKEN: { secret: "TICKETS_TOKEN" }, REGION: "eu" } } },
        host: { ...testHostOptions, secrets },
        rotationCheckMs: 50,
        idleTimeoutMs,
      });
      return { hosts };
    };
    const tokenSeenBy = async (hosts: HostPool) => {
      const lease = await hosts.acquire("everything", CALLER);
      try {
        const response = await lease.host.fetch(modernRequest("tools/call", { name: "get-env", arguments: {} }), CALLER);
        const [message] = await messagesOf(response);
        const text = (message?.result as { content?: { text?: string }[] } | undefined)?.content?.[0]?.text;
        return { pid: lease.host.pid as number, token: (JSON.parse(text ?? "{}") as Record<string, string>).TICKETS_API_TOKEN };
      } finally {
        lease.release();
      }
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it("replaces an idle child: the next call gets a new one with the new value", async () => {
      const secrets = rotatable({ TICKETS_TOKEN: "placeholder-v1" });
      const { hosts } = rotatingPool(secrets);
      const before = await tokenSeenBy(hosts);
      expect(before.token).toBe("placeholder-v1");
      secrets.values.TICKETS_TOKEN = "placeholder-v2";
      await waitFor(() => !isAlive(before.pid));
      const after = await tokenSeenBy(hosts);
      expect(after.token).toBe("placeholder-v2");
      expect(after.pid).not.toBe(before.pid);
    });

    it("keeps a child whose secrets did not change, or cannot be read just now", async () => {
      const secrets = rotatable({ TICKETS_TOKEN: "placeholder-v1" });
      const { hosts } = rotatingPool(secrets);
      const first = await tokenSeenBy(hosts);
      await pause(300);
      delete secrets.values.TICKETS_TOKEN;
      await pause(300);
      expect(isAlive(first.pid)).toBe(true);
      secrets.values.TICKETS_TOKEN = "placeholder-v1";
      expect((await tokenSeenBy(hosts)).pid).toBe(first.pid);
    });

    it("lets a busy child finish its call, and replaces it once released", async () => {
      const secrets = rotatable({ TICKETS_TOKEN: "placeholder-v1" });
      const { hosts } = rotatingPool(secrets);
      const busy = await hosts.acquire("everything", CALLER);
      secrets.values.TICKETS_TOKEN = "placeholder-v2";
      await pause(400);
      expect(isAlive(busy.host.pid as number)).toBe(true);
      busy.release();
      await waitFor(() => !isAlive(busy.host.pid as number));
      expect((await tokenSeenBy(hosts)).token).toBe("placeholder-v2");
    });

    it("keeps a child holding a call that waits for its user's answer, past the idle timeout, and replaces it after", async () => {
      const secrets = rotatable({ TICKETS_TOKEN: "placeholder-v1" });
      const { hosts } = rotatingPool(secrets, 500);
      const asking = await hosts.acquire("everything", CALLER);
      const pending = await parkedCall(asking.host, CALLER);
      secrets.values.TICKETS_TOKEN = "placeholder-v2";
      await pause(1500);
      expect(isAlive(asking.host.pid as number)).toBe(true);
      expect(await pending.answer()).toHaveProperty("result");
      asking.release();
      await waitFor(() => !isAlive(asking.host.pid as number));
      expect((await tokenSeenBy(hosts)).token).toBe("placeholder-v2");
    });

    it("stops a child kept busy past the idle timeout since the rotation", async () => {
      const secrets = rotatable({ TICKETS_TOKEN: "placeholder-v1" });
      const { hosts } = rotatingPool(secrets, 500);
      const busy = await hosts.acquire("everything", CALLER);
      secrets.values.TICKETS_TOKEN = "placeholder-v2";
      await waitFor(() => !isAlive(busy.host.pid as number));
      expect(hosts.size()).toBe(0);
      busy.release();
    });
  });
});
