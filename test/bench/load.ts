import { Agent, request as httpRequest } from "node:http";

/**
 * The load generator. Sessions are opened by real SDK clients (their handshake, their OAuth, their headers); the
 * timed `tools/call echo` requests replay the exact request the SDK client sent for its own first call (same URL,
 * headers and body shape; a fresh id and message each time) over a keep-alive connection per client, and read the
 * whole answer (JSON or SSE). So the client side costs the same small amount on every row, and its CPU does not
 * compete with the system under test on this 2-core machine the way a full SDK client per call would.
 */
export interface CallTemplate {
  url: URL;
  headers: Record<string, string>;
  body: { jsonrpc: "2.0"; id: unknown; method: string; params: { name: string; arguments: Record<string, unknown> } };
}

/** Extra headers computed before each request (outside the timed window), e.g. a fresh edge assertion. */
export type PerRequestHeaders = () => Promise<Record<string, string>>;

export interface BenchClient {
  template: CallTemplate;
  perRequest?: PerRequestHeaders;
  close(): Promise<void>;
}

/** A fetch for an SDK transport that remembers the first `tools/call` request it carries. */
export function recordingFetch(inner: typeof fetch = fetch): { fetch: typeof fetch; template: () => CallTemplate } {
  let captured: CallTemplate | undefined;
  const recording: typeof fetch = async (input, init) => {
    if (!captured && typeof init?.body === "string" && init.body.includes('"tools/call"')) {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => {
        headers[key] = value;
      });
      captured = { url: new URL(String(input instanceof Request ? input.url : input)), headers, body: JSON.parse(init.body) };
    }
    return inner(input, init);
  };
  return {
    fetch: recording,
    template: () => {
      if (!captured) throw new Error("the SDK client sent no tools/call to record");
      return captured;
    },
  };
}

let nextId = 1_000_000;

/** One replayed call: resolves with the latency in ms, or throws when the answer is not a successful echo. */
export async function callOnce(client: BenchClient, agent: Agent): Promise<number> {
  const { template } = client;
  const id = nextId++;
  const message = `bench ${id}`;
  const body = JSON.stringify({
    ...template.body,
    id,
    params: { ...template.body.params, arguments: { ...template.body.params.arguments, message } },
  });
  const extra = client.perRequest ? await client.perRequest() : {};
  const headers = { ...template.headers, ...extra, host: template.url.host, "content-length": String(Buffer.byteLength(body)) };
  const started = performance.now();
  const { status, text } = await post(template.url, headers, body, agent);
  const elapsed = performance.now() - started;
  if (status !== 200 || !text.includes(`"id":${id}`) || !text.includes(message) || text.includes('"isError":true')) {
    throw new Error(`call ${id} failed: HTTP ${status} ${text.slice(0, 300)}`);
  }
  return elapsed;
}

function post(url: URL, headers: Record<string, string>, body: string, agent: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname === "localhost" ? "127.0.0.1" : url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers,
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export interface CellResult {
  samples: number[];
  seconds: number;
  errors: number;
  firstError?: string;
  /** CPU the row's processes used during the timed window, in ms (when the row names them). */
  cpuMs?: number;
}

/** `clients.length` clients call back to back: a warm-up, then `seconds` of timed calls. */
export async function runCell(
  clients: BenchClient[],
  warmupSeconds: number,
  seconds: number,
  cpuMs?: () => number,
): Promise<CellResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients.length * 2 });
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (client: BenchClient, until: number, keep: boolean) => {
    while (performance.now() < until) {
      try {
        const latency = await callOnce(client, agent);
        if (keep) samples.push(latency);
      } catch (error) {
        if (keep) errors++;
        firstError ??= String(error);
      }
    }
  };
  const warmEnd = performance.now() + warmupSeconds * 1000;
  await Promise.all(clients.map((client) => loop(client, warmEnd, false)));
  const cpuBefore = cpuMs?.();
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(clients.map((client) => loop(client, end, true)));
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = cpuMs?.();
  agent.destroy();
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  return { samples, seconds: elapsed, errors, firstError, cpuMs: cpu };
}

export interface Stats {
  p50: number;
  p99: number;
  rps: number;
  /** CPU per call of the row's processes, in ms (NaN when the row names none). */
  cpu: number;
  count: number;
  errors: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

export function statsOf(cell: CellResult): Stats {
  const sorted = [...cell.samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    rps: cell.samples.length / cell.seconds,
    cpu: cell.cpuMs === undefined || cell.samples.length === 0 ? Number.NaN : cell.cpuMs / cell.samples.length,
    count: cell.samples.length,
    errors: cell.errors,
  };
}

export const median = (values: number[]): number => {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
