import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { listen } from "../aws/origin/listen.ts";

export interface WranglerDevOptions {
  port: number;
  inspectorPort: number;
  /** Variables and secrets for the Worker, as an env file. */
  envFile: string;
  /** Where local KV and queue state is kept between runs. */
  persistTo: string;
  log: (line: string) => void;
}

export interface RunningWrangler {
  url: string;
  close(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 90_000;
/** Starts of wrangler dev tried when one loses a port wrangler chose itself (see startWranglerDev). */
const STARTUP_ATTEMPTS = 3;
const require = createRequire(import.meta.url);
/** The edge's Wrangler configuration, whatever the working directory `npm start` or a test was run from. */
const WRANGLER_CONFIG = fileURLToPath(new URL("../wrangler.toml", import.meta.url));

/**
 * The environment `wrangler dev` runs in here. Local only: no telemetry, no prompts, no look-up of Cloudflare's
 * `request.cf` placeholder data. Wrangler's Local Explorer trace capture is off unless asked for
 * (`X_LOCAL_OBSERVABILITY=true`): it writes every span of every invocation into SQLite inside workerd, which took about
 * a third of the edge's local CPU per request (two thirds more on a legacy session's path, which has an invocation
 * more) and has no counterpart in production (test/bench/FINDINGS.md).
 */
export const wranglerDevEnv = (): NodeJS.ProcessEnv => ({
  X_LOCAL_OBSERVABILITY: "false",
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CI: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
});

/**
 * Runs the edge Worker under `wrangler dev` (real workerd, local KV and Queues) on loopback, and resolves once
 * it answers /healthz. Wrangler runs on this same Node (the pinned one), in its own process group so that
 * stopping it also stops workerd.
 */
export async function startWranglerDev(options: WranglerDevOptions): Promise<RunningWrangler> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      // wrangler also binds ports of its own choosing; another process can take one between its choice and its
      // bind (parallel test files do). Our own ports are checked free again on the next attempt.
      if (attempt >= STARTUP_ATTEMPTS || !/Address already in use/.test(String(error))) throw error;
      options.log(`wrangler dev lost a port of its own to another process; starting it again (attempt ${attempt + 1})`);
    }
  }
}

async function startOnce(options: WranglerDevOptions): Promise<RunningWrangler> {
  // wrangler would quietly move to another port; the printed URLs must be the real ones, so a taken port is an error.
  await ensurePortFree(options.port, "EDGE_PORT");
  await ensurePortFree(options.inspectorPort, "EDGE_INSPECTOR_PORT");
  const wrangler = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
  const child = spawn(
    process.execPath,
    [
      wrangler,
      "dev",
      ...["--config", WRANGLER_CONFIG],
      ...["--ip", "127.0.0.1", "--port", String(options.port), "--inspector-port", String(options.inspectorPort)],
      ...["--env-file", options.envFile, "--persist-to", options.persistTo],
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: dirname(WRANGLER_CONFIG),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: wranglerDevEnv(),
    },
  );
  const recent: string[] = [];
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      recent.push(line);
      if (recent.length > 30) recent.shift();
      options.log(line);
    }
  };
  child.stdout?.on("data", onOutput);
  child.stderr?.on("data", onOutput);

  const url = `http://127.0.0.1:${options.port}`;
  const close = () => stopGroup(child);
  try {
    await waitUntilHealthy(url, child, recent);
  } catch (error) {
    await close();
    throw error;
  }
  return { url, close };
}

async function ensurePortFree(port: number, setting: string): Promise<void> {
  const probe = createServer();
  try {
    await listen(probe, port, "127.0.0.1", setting);
  } catch (error) {
    // wrangler runs in its own process group (so that stopping it stops workerd): a hard kill of npm start leaves it.
    // The pattern names this port only, so that other checkouts' wranglers on the machine live on; it matches both
    // wrangler's launcher (bin/wrangler.js) and the CLI it starts (wrangler-dist/cli.js), which holds the port.
    throw new Error(
      `${(error as Error).message}. A wrangler dev left by an earlier npm start that was killed without Ctrl-C may hold it: pkill -f "wrangler(\\.js|-dist/cli\\.js) dev .*--(inspector-)?port ${port}( |$)"`,
      { cause: error },
    );
  }
  await new Promise((resolve) => probe.close(resolve));
}

async function waitUntilHealthy(url: string, child: ChildProcess, recent: string[]): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode}:\n${recent.join("\n")}`);
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`wrangler dev did not answer ${url}/healthz within ${STARTUP_TIMEOUT_MS / 1000} s:\n${recent.join("\n")}`);
}

/** SIGTERM to the whole process group, SIGKILL after a grace period; resolves when the child has exited. */
function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const kill = setTimeout(() => signalGroup(pid, "SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(kill);
      signalGroup(pid, "SIGKILL"); // anything of the group still alive (workerd) goes too
      resolve();
    });
    signalGroup(pid, "SIGTERM");
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
