import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startTestSystem } from "../e2e/local-system.ts";
import { signIn } from "./clients.ts";
import { type CpuProfile, summarize } from "./cpu-profile.ts";

/**
 * Where the edge's CPU goes: `npx --no-install node test/bench/profile-edge.ts [modern|legacy] [calls]`.
 * Starts the local system, signs in, warms up, then records a CPU profile of the Worker isolate (through the
 * inspector `wrangler dev` opens) while one client makes `calls` sequential `tools/call echo` requests. Prints the
 * functions with the most time, inclusive and self, and writes the profile (open it in Chrome DevTools).
 */
const mode = process.argv[2] === "legacy" ? "legacy" : "modern";
const calls = Number(process.argv[3] ?? 400);

const system = await startTestSystem();
try {
  const call = await connect(new URL(`${system.edgeUrl}/mcp/everything`));
  for (let i = 0; i < 50; i++) await call();
  const inspector = await openInspector(system.ports.edgeInspector);
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
  await inspector.send("Profiler.start");
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  const { profile } = (await inspector.send("Profiler.stop")) as { profile: CpuProfile };
  inspector.close();
  const file = join(tmpdir(), `mcp-edge-${mode}-${process.pid}.cpuprofile`);
  await writeFile(file, JSON.stringify(profile));
  times.sort((a, b) => a - b);
  console.log(`${mode}: ${calls} calls, median ${times[Math.floor(calls / 2)]?.toFixed(2)} ms (SDK client included)`);
  console.log(summarize(profile, 40));
  console.log(`profile: ${file}`);
} finally {
  await system.close();
}

async function connect(url: URL): Promise<() => Promise<unknown>> {
  const provider = await signIn(url);
  const echo = { name: "echo", arguments: { message: "profile" } };
  if (mode === "modern") {
    const client = new Client({ name: "profile", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return () => client.callTool(echo);
  }
  const client = new V1Client({ name: "profile", version: "1.0.0" });
  await client.connect(new V1Transport(url, { authProvider: provider as never }));
  return () => client.callTool(echo);
}

/** The Worker's DevTools endpoint: one command at a time is enough here. */
async function openInspector(port: number) {
  const [target] = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  // The inspector proxy of wrangler dev accepts a connection only with an Origin header.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } } as never);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  let nextId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  return {
    send: (method: string, params: Record<string, unknown> = {}) =>
      new Promise<unknown>((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}
