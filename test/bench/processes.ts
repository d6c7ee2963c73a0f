import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../local/free-port.ts";
import { demoServers } from "../../local/system.ts";
import { wranglerDevEnv } from "../../local/wrangler-dev.ts";

const require = createRequire(import.meta.url);

export interface Running {
  url: string;
  /** The process group leader: it and its descendants are what serves the row. */
  pid: number;
  close(): Promise<void>;
}

/** Row A: supergateway 4 exposing the demo upstream as stateful Streamable HTTP (one stdio child per session). */
export async function startSupergateway(): Promise<Running> {
  const spec = demoServers().everything;
  if (!spec) throw new Error("the demo server is missing");
  const port = await freePort();
  const entry = join(dirname(require.resolve("supergateway/package.json")), "dist", "index.js");
  const stdio = [spec.command, ...spec.args].join(" ");
  const child = spawnGroup(process.execPath, [
    entry,
    ...["--stdio", stdio, "--outputTransport", "streamableHttp", "--stateful"],
    ...["--port", String(port), "--healthEndpoint", "/healthz", "--logLevel", "none"],
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, "supergateway");
  return { url, pid: child.pid as number, close: () => stopGroup(child) };
}

export interface RunningSystem {
  edgeUrl: string;
  originUrl: string;
  dataDir: string;
  /** The system's process: the origin, the IdP and the database in it, the edge's wrangler and the stdio children under it. */
  pid: number;
  close(): Promise<void>;
}

/** The local system as `npm start` runs it, in a child process (test/bench/system-child.ts). */
export async function startSystemProcess(): Promise<RunningSystem> {
  const entry = fileURLToPath(new URL("./system-child.ts", import.meta.url));
  // e.g. BENCH_SYSTEM_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the origin (Node refuses them in NODE_OPTIONS).
  const flags = (process.env.BENCH_SYSTEM_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  const child = spawnGroup(process.execPath, [...flags, entry]);
  const ready = await new Promise<Omit<RunningSystem, "close">>((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const line = buffered.split("\n").find((candidate) => candidate.startsWith("{"));
      if (!line) return;
      child.stdout?.off("data", onData);
      resolve(JSON.parse(line));
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`the local system exited (${code}) before it was up:\n${recent.get(child)?.join("\n")}`)),
    );
  });
  return { ...ready, pid: child.pid as number, close: () => stopGroup(child) };
}

/** Row B: test/bench/passthrough-worker.ts under `wrangler dev` (the edge's wrangler), forwarding to `target`. */
export async function startPassthroughWorker(target: string): Promise<Running> {
  // Its own configuration (no bindings) and its own state folder, apart from the edge's.
  const state = await mkdtemp(join(tmpdir(), "mcp-bench-passthrough-"));
  const config = fileURLToPath(new URL("./passthrough.wrangler.toml", import.meta.url));
  const running = await startWrangler(
    ["--config", config, "--persist-to", state, "--var", `TARGET:${target}`],
    "the pass-through Worker",
  );
  return {
    url: running.url,
    pid: running.pid,
    close: async () => {
      await running.close();
      await rm(state, { recursive: true, force: true });
    },
  };
}

/** `wrangler dev` with these arguments on free loopback ports, resolved once it answers /healthz. */
export async function startWrangler(args: string[], what: string, cwd?: string): Promise<Running> {
  const port = await freePort();
  const inspector = await freePort();
  const wrangler = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
  const child = spawnGroup(
    process.execPath,
    [
      wrangler,
      "dev",
      ...args,
      ...["--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector)],
      "--show-interactive-dev-session=false",
    ],
    cwd,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, what);
  return { url, pid: child.pid as number, close: () => stopGroup(child) };
}

const recent = new WeakMap<ChildProcess, string[]>();

function spawnGroup(command: string, args: string[], cwd?: string): ChildProcess {
  const child = spawn(command, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    // The pass-through Worker's wrangler runs as the edge's does (same settings, local trace capture off alike).
    env: wranglerDevEnv(),
  });
  const lines: string[] = [];
  recent.set(child, lines);
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 30));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return child;
}

async function waitForHealth(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited:\n${recent.get(child)?.join("\n")}`);
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stopGroup(child);
  throw new Error(`${what} did not answer ${url}/healthz:\n${recent.get(child)?.join("\n")}`);
}

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      // already gone
    }
  };
  return new Promise((resolve) => {
    const kill = setTimeout(() => signal("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      signal("SIGKILL");
      resolve();
    });
    signal("SIGTERM");
  });
}
