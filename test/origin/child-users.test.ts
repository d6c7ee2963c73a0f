import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { asChildUser, ChildUsers, childUsersFromConfig } from "../../aws/origin/hosting/child-users.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { DefinitionPins } from "../../aws/origin/pinning/definition-pins.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { OriginConfig, type StdioServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// stdio.childUids: each stdio child runs as a Unix user of its own, so a compromised upstream cannot read the origin's
// environment (its secrets) nor another user's child's. The host pool lives in this test's process, which plays the
// origin. Switching users needs root: this machine image runs the tests as root, as the origin's container does.
const PRYING = fileURLToPath(new URL("../fixtures/prying-upstream/server.ts", import.meta.url));
const prying: StdioServer = { transport: "stdio", command: process.execPath, args: [PRYING], env: {} } as unknown as StdioServer;
const isRoot = process.getuid?.() === 0;
const FIRST_UID = 61_000;

const assertionOf = (sub: string) =>
  ({ sub, email: `${sub}@example.com`, client_id: "c", server: "prying", purpose: "mcp", jti: sub, exp: 0 }) as VerifiedAssertion;

async function tool(pool: HostPool, sub: string, name: string, args: Record<string, unknown> = {}) {
  const response = await serveMcp(pool, "prying", assertionOf(sub), modernRequest("tools/call", { name, arguments: args }));
  const messages = (await messagesOf(response)) as { result?: { content?: { text: string }[] }; error?: unknown }[];
  const text = messages.find((message) => message.result)?.result?.content?.[0]?.text;
  if (text === undefined) throw new Error(`no result: ${JSON.stringify(messages)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

const poolWith = (childUsers?: ChildUsers) =>
  createHostPool({
    servers: { prying },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: { ...testHostOptions, childUsers },
    log: () => {},
  });

describe.skipIf(!isRoot)("stdio children as Unix users of their own (needs root)", () => {
  let homes: string;
  let isolated: HostPool;
  beforeAll(async () => {
    homes = await mkdtemp(join(tmpdir(), "child-users-"));
    await chmod(homes, 0o711); // as the system's /tmp is: a child must pass through to its home
    isolated = poolWith(new ChildUsers({ first: FIRST_UID, count: 4 }, join(homes, "homes"), () => {}, [homes, "/dev/shm"]));
  });
  afterAll(async () => {
    await isolated?.close();
    await rm(homes, { recursive: true, force: true });
  });

  it("runs a child as its own user and group, with no other groups, in a home of its own it can write", async () => {
    const self = await tool(isolated, "alice", "whoami");
    expect(self.uid).toBeGreaterThanOrEqual(FIRST_UID);
    expect(self.uid).toBeLessThan(FIRST_UID + 4);
    expect(self.gid).toBe(self.uid);
    expect(self.groups).toEqual([self.uid]); // its own group only (Node lists the effective group too)
    expect(self.home).toBe(join(homes, "homes", String(self.uid)));
    expect(self.tmpdir).toBe(self.home);
    expect(self.cwd).toBe(process.cwd()); // the origin's: a server's relative paths mean what they did
    expect(await tool(isolated, "alice", "write", { path: join(String(self.home), ".npm-cache-probe") })).toEqual({
      written: true,
    });
    // The homes' directory lets each child reach its own home by path, and list no one's.
    expect(await tool(isolated, "alice", "read", { path: join(homes, "homes") })).toEqual({ error: "EACCES" });
  });

  it("keeps the origin's environment from a child, and one user's child from another's", async () => {
    expect(await tool(isolated, "alice", "read", { path: `/proc/${process.pid}/environ` })).toEqual({ error: "EACCES" });
    const bob = await tool(isolated, "bob", "whoami");
    const alice = await tool(isolated, "alice", "whoami");
    expect(bob.uid).not.toBe(alice.uid);
    expect(await tool(isolated, "alice", "read", { path: `/proc/${bob.pid}/environ` })).toEqual({ error: "EACCES" });
  });

  it("without child users, a child reads the origin's environment: the hazard the setting removes", async () => {
    const shared = poolWith(undefined);
    try {
      const read = await tool(shared, "carol", "read", { path: `/proc/${process.pid}/environ` });
      expect(read.text).toContain("PATH=");
    } finally {
      await shared.close();
    }
  });
});

describe.skipIf(!isRoot)("a child user handed out again (needs root)", () => {
  it("starts with an empty home, and nothing the last child left running", async () => {
    const homes = await mkdtemp(join(tmpdir(), "child-users-"));
    try {
      const users = new ChildUsers({ first: FIRST_UID + 10, count: 1 }, homes, () => {}, [homes]);
      const first = await users.take();
      await writeFile(join(first.home, "left-behind"), "a user's data");
      const { command, args } = asChildUser(first, "sleep", ["600"]);
      const leftover = spawn(command, args, { stdio: "ignore" });
      const exited = new Promise((resolve) => leftover.once("exit", (_code, signal) => resolve(signal)));
      await expect(users.take()).rejects.toThrow(/every stdio child user is taken .*raise it/);
      await users.give(first);
      const stillRunning = new Promise((resolve) => setTimeout(() => resolve("still running"), 5_000));
      expect(await Promise.race([exited, stillRunning])).toBe("SIGKILL");
      const again = await users.take();
      expect(again.uid).toBe(first.uid);
      expect(await readdir(again.home)).toEqual([]);
      await users.give(again);
      expect(existsSync(again.home)).toBe(false);
    } finally {
      await rm(homes, { recursive: true, force: true });
    }
  });
});

// s28 limits hunt L1: a child had no bound of its own: one user's fork loop or allocation could fill the task's
// process table or memory, and the kernel's out-of-memory choice could fall on the origin.
describe.skipIf(!isRoot)("a child's own bounds (needs root)", () => {
  it("is the kernel's first choice when memory runs out, and cannot start more than its process limit", async () => {
    const homes = await mkdtemp(join(tmpdir(), "child-users-"));
    const users = new ChildUsers({ first: FIRST_UID + 20, count: 1 }, homes, () => {}, [homes]);
    const user = await users.take();
    try {
      // Reports its out-of-memory preference, then starts sleepers until the kernel refuses one.
      const probe = `
        const { readFileSync } = require("node:fs");
        const { spawnSync, spawn } = require("node:child_process");
        const oom = readFileSync("/proc/self/oom_score_adj", "utf8").trim();
        const started = [];
        let refused = "";
        for (let i = 0; i < 40 && !refused; i++) {
          const child = spawnSync("true");
          if (child.error) refused = child.error.code; else started.push(spawn("sleep", ["30"], { stdio: "ignore" }));
        }
        for (const child of started) child.kill("SIGKILL");
        console.log(JSON.stringify({ oom, started: started.length, refused }));`;
      const { command, args } = asChildUser(user, process.execPath, ["-e", probe], 24);
      const seen = JSON.parse(execFileSync(command, args, { encoding: "utf8" })) as Record<string, unknown>;
      expect(seen).toMatchObject({ oom: "1000", refused: "EAGAIN" });
      expect(seen.started).toBeLessThan(24);
    } finally {
      await users.give(user);
      await rm(homes, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot)("what a child left outside its home (needs root)", () => {
  // The test's own /tmp (sticky, writable by all, as the system's is) and the system's /dev/shm are swept.
  let base: string;
  let shared: string;
  const shm = join("/dev/shm", `child-users-test-${process.pid}`);
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "child-users-"));
    await chmod(base, 0o711);
    shared = join(base, "tmp");
    await mkdir(shared);
    await chmod(shared, 0o1777);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    await rm(shm, { force: true });
    const options = { shm: "-m", msg: "-q", sem: "-s" } as Record<string, string>;
    for (const object of ipcObjectsOf(FIRST_UID + 40)) {
      const [table = "", id = ""] = object.split(" ");
      execFileSync("ipcrm", [options[table] ?? "", id]);
    }
  });
  const usersOf = (first: number, log: (line: string) => void = () => {}) =>
    new ChildUsers({ first, count: 1 }, join(base, "homes"), log, [shared, "/dev/shm"]);

  it("is gone before its user is handed out again: a private file, a tree with links out, a shared directory, directories it closed to itself (s27 review R1), IPC", async () => {
    const users = usersOf(FIRST_UID + 40);
    const first = await users.take();
    // Outside every swept place, and deletable by the child's user: a sweep that followed a link would delete it.
    const outside = join(base, "homes", "outside");
    await mkdir(outside);
    await writeFile(join(outside, "kept"), "not the child's to sweep");
    await chown(outside, first.uid, first.uid);
    await chown(join(outside, "kept"), first.uid, first.uid);
    runAs(
      first,
      `const fs = require("fs"), { execFileSync } = require("child_process");
       fs.writeFileSync(${JSON.stringify(join(shared, "private"))}, "user A's data", { mode: 0o600 });
       fs.mkdirSync(${JSON.stringify(join(shared, "tree", "deep"))}, { recursive: true });
       fs.writeFileSync(${JSON.stringify(join(shared, "tree", "deep", "cache"))}, "planted for the next holder");
       fs.symlinkSync(${JSON.stringify(outside)}, ${JSON.stringify(join(shared, "tree", "out"))});
       fs.symlinkSync(${JSON.stringify(join(outside, "kept"))}, ${JSON.stringify(join(shared, "tree", "deep", "out-file"))});
       fs.mkdirSync(${JSON.stringify(join(shared, "open"))}); fs.chmodSync(${JSON.stringify(join(shared, "open"))}, 0o777);
       fs.mkdirSync(${JSON.stringify(join(shared, "closed-by-itself", "inner", "deeper"))}, { recursive: true });
       fs.chmodSync(${JSON.stringify(join(shared, "closed-by-itself", "inner"))}, 0);
       fs.chmodSync(${JSON.stringify(join(shared, "closed-by-itself"))}, 0);
       fs.writeFileSync(${JSON.stringify(shm)}, "user A's shared memory", { mode: 0o600 });
       for (const kind of ["-M", "-Q", "-S"]) execFileSync("ipcmk", [kind, kind === "-S" ? "1" : "4096"]);`,
    );
    // Another user's child writes into the directory the first made writable by all.
    runAs(
      { uid: FIRST_UID + 41, home: shared },
      `require("fs").writeFileSync(${JSON.stringify(join(shared, "open", "theirs"))}, "x")`,
    );
    expect(ipcObjectsOf(first.uid)).toHaveLength(3);
    // The origin's working directory may be one the child's user cannot enter (root's only): the sweep still works.
    const cwd = process.cwd();
    process.chdir(await mkdtemp(join(base, "root-only-")));
    try {
      await users.give(first);
    } finally {
      process.chdir(cwd);
    }
    const again = await users.take();
    expect(again.uid).toBe(first.uid);
    expect(runAs(again, `process.stdout.write(JSON.stringify(require("fs").readdirSync(${JSON.stringify(shared)})))`)).toBe("[]");
    expect(existsSync(shm)).toBe(false);
    expect(ipcObjectsOf(first.uid)).toEqual([]);
    expect(readFileSync(join(outside, "kept"), "utf8")).toBe("not the child's to sweep");
    await users.give(again);
  });

  it("keeps a user out of the pool while it owns something it cannot remove, and logs why", async () => {
    const lines: string[] = [];
    const users = usersOf(FIRST_UID + 42, (line) => lines.push(line));
    const first = await users.take();
    // A file of its user's in a directory it may not write (its owner closed it): the next holder could read it.
    const closed = join(shared, "closed");
    await mkdir(closed, { mode: 0o755 });
    await writeFile(join(closed, "stuck"), "user A's data", { mode: 0o600 });
    await chown(join(closed, "stuck"), first.uid, first.uid);
    await users.give(first);
    expect(lines.join("\n")).toMatch(
      new RegExp(
        `stdio child user ${first.uid}'s leftovers cannot all be removed \\(it still owns "${join(closed, "stuck")}"\\): set aside`,
      ),
    );
    await expect(users.take()).rejects.toThrow(/every stdio child user is taken/);
  });

  it("is swept, and what it runs killed, before the first handing out when an earlier run of the origin left it", async () => {
    // Two users: one an earlier run's child left a file, the other a process (an origin restarted in its container).
    const [wrote, runs] = [FIRST_UID + 43, FIRST_UID + 44];
    const users = new ChildUsers({ first: wrote, count: 2 }, join(base, "homes"), () => {}, [shared, "/dev/shm"]);
    const earlier = join(shared, "earlier-run");
    await writeFile(earlier, "an earlier child's data", { mode: 0o600 });
    await chown(earlier, wrote, wrote);
    const { command, args } = asChildUser({ uid: runs, home: shared }, "sleep", ["600"]);
    const leftover = spawn(command, args, { stdio: "ignore" });
    onTestFinished(() => void leftover.kill("SIGKILL"));
    const exited = new Promise((resolve) => leftover.once("exit", (_code, signal) => resolve(signal)));
    await waitForProcessOf(runs);
    await users.sweepEarlierRuns();
    expect(processesOf(runs)).toEqual([]);
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(earlier)).toBe(false);
    expect([(await users.take()).uid, (await users.take()).uid].sort()).toEqual([wrote, runs]);
  });
});

/** Runs `script` with Node as `user` (as a child would run); what it printed. */
function runAs(user: { uid: number; home: string }, script: string): string {
  const { command, args } = asChildUser(user, process.execPath, ["-e", script]);
  return execFileSync(command, args, { env: { PATH: process.env.PATH }, encoding: "utf8" });
}

/** The System V IPC objects (shared memory, queues, semaphores) `uid` owns, from /proc. */
function ipcObjectsOf(uid: number): string[] {
  return ["shm", "msg", "sem"].flatMap((table) => {
    const [header = "", ...rows] = readFileSync(`/proc/sysvipc/${table}`, "utf8").trim().split("\n");
    const owner = header.trim().split(/\s+/).indexOf("uid");
    return rows
      .map((row) => row.trim().split(/\s+/))
      .filter((cells) => cells[owner] === String(uid))
      .map((cells) => `${table} ${cells[1]}`);
  });
}

describe.skipIf(!isRoot)("a child that exits while its host is being made (needs root)", () => {
  it("gives its Unix user back, and the next call gets a child of that user", async () => {
    const homes = await mkdtemp(join(tmpdir(), "child-users-"));
    await chmod(homes, 0o711);
    const uid = FIRST_UID + 30;
    let exitDuringStart = true;
    // Pinning's discovery check is the last step before the host serves: the child is killed there, once.
    const pins = {
      pins: () => true,
      subscribe: () => () => {},
      visible: async (_server: string, _kind: string, items: unknown[]) => items,
      allows: async () => {
        if (!exitDuringStart) return undefined;
        exitDuringStart = false;
        const pid = await waitForProcessOf(uid);
        process.kill(pid, "SIGKILL");
        while (processesOf(uid).length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        await new Promise((resolve) => setTimeout(resolve, 200)); // the transport's close event
        return undefined;
      },
    } as unknown as DefinitionPins;
    const pool = createHostPool({
      servers: { prying },
      idleTimeoutMs: 60_000,
      maxProcesses: 1,
      host: {
        ...testHostOptions,
        pins,
        childUsers: new ChildUsers({ first: uid, count: 1 }, join(homes, "homes"), () => {}, [homes]),
      },
      log: () => {},
    });
    try {
      await expect(pool.acquire("prying", { sub: "alice", server: "prying", clientId: "c", era: "modern" })).rejects.toThrow(
        /closed while it was being started/,
      );
      expect((await tool(pool, "alice", "whoami")).uid).toBe(uid);
    } finally {
      await pool.close();
      await rm(homes, { recursive: true, force: true });
    }
  });
});

async function waitForProcessOf(uid: number): Promise<number> {
  for (let tries = 0; tries < 250; tries++) {
    const [pid] = processesOf(uid);
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no process of user ${uid}`);
}

/** The processes running as `uid`, from /proc. */
function processesOf(uid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(readFileSync(`/proc/${pid}/status`, "utf8"));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(!isRoot)("the homes' directory (needs root)", () => {
  it("is refused when something else stands at its path, such as a symlink a child planted", async () => {
    const base = await mkdtemp(join(tmpdir(), "child-users-"));
    try {
      await symlink(tmpdir(), join(base, "homes"));
      const users = new ChildUsers({ first: FIRST_UID + 20, count: 1 }, join(base, "homes"), () => {}, [base]);
      await expect(users.take()).rejects.toThrow(/must be a directory of root's/);
      expect(await users.take().catch((error: Error) => error.message)).not.toMatch(/every stdio child user is taken/);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe("stdio.childUids configuration", () => {
  it("refuses to start an origin that is not root with child users set, saying what to do", async () => {
    const getuid = vi.spyOn(process, "getuid").mockReturnValue(1000);
    try {
      await expect(childUsersFromConfig({ first: 20_000, count: 100 }, () => {})).rejects.toThrow(
        /stdio.childUids is set, .* runs as uid 1000 and cannot switch to them: run it as root .* or unset stdio.childUids/,
      );
      expect(await childUsersFromConfig(undefined, () => {})).toBeUndefined();
    } finally {
      getuid.mockRestore();
    }
  });

  it("refuses to start an origin that cannot run choom, prlimit and setpriv, naming the tools and the user it tried", async () => {
    const getuid = vi.spyOn(process, "getuid").mockReturnValue(0);
    vi.stubEnv("PATH", await mkdtemp(join(tmpdir(), "no-setpriv-")));
    try {
      await expect(childUsersFromConfig({ first: 20_000, count: 100 }, () => {})).rejects.toThrow(
        /stdio.childUids: cannot run a process as user 20000 with choom, prlimit and setpriv \(util-linux\): .*ENOENT/,
      );
    } finally {
      vi.unstubAllEnvs();
      getuid.mockRestore();
    }
  });

  it("refuses fewer child users than children may run at once", () => {
    const base = { edgeIssuer: "https://edge.example", servers: {} };
    const parsed = OriginConfig.safeParse({ ...base, stdio: { maxProcesses: 10, childUids: { first: 20_000, count: 5 } } });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("expected at least stdio.maxProcesses child users");
  });

  it("refuses fewer than twice as many child users as children with a googleCredentials stdio server, whose child overlaps its replacement", () => {
    const google = {
      audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
      serviceAccount: "drive-tokens@project.iam.gserviceaccount.com",
    };
    const drive = {
      transport: "stdio",
      command: "drive-mcp",
      googleCredentials: { scopes: ["https://www.googleapis.com/auth/drive.readonly"], inject: { env: "GOOGLE_TOKEN" } },
    };
    const origin = (count: number) => ({
      edgeIssuer: "https://edge.example",
      publicUrl: "https://origin.example",
      google,
      servers: { drive },
      stdio: { maxProcesses: 10, childUids: { first: 20_000, count } },
    });
    const refused = OriginConfig.safeParse(origin(19));
    expect(refused.error?.issues).toEqual([
      expect.objectContaining({
        path: ["stdio", "childUids", "count"],
        message:
          "expected at least twice stdio.maxProcesses (20) child users: a stdio server with googleCredentials needs two per child (a child and its replacement overlap when the user's Google token is renewed)",
      }),
    ]);
    expect(OriginConfig.safeParse(origin(20)).success).toBe(true);
    // Without googleCredentials one user per child is enough.
    const plain = { ...origin(10), servers: { docs: { transport: "stdio", command: "docs-mcp" } } };
    expect(OriginConfig.safeParse(plain).success).toBe(true);
  });
});
