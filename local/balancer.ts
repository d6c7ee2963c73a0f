import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "../aws/origin/listen.ts";
import { ORIGIN_AFFINITY_COOKIE } from "../contract/origin-affinity.ts";

/** The stickiness cookie, named as the ALB names its first application-stickiness cookie. */
const STICKY_COOKIE = "AWSALBAPP-0";
/** How often targets are probed (the ALB's shortest health-check interval is 5 s; tests want less). */
const HEALTH_INTERVAL_MS = 1000;
/**
 * How long after issuing it the balancer honours its stickiness cookie: one day, the ALB's stickiness duration
 * (`STICKINESS_DURATION`, aws/cdk/service/load-balancer.ts).
 */
export const DEFAULT_STICKINESS_MS = 24 * 60 * 60 * 1000;
export interface RunningBalancer {
  url: string;
  /** Targets currently considered healthy. */
  healthy(): string[];
  close(): Promise<void>;
}

/**
 * A small load balancer that behaves like the ALB in front of the origins: round robin over healthy targets,
 * application-cookie stickiness (when a target's answer sets `MCP_ORIGIN`, the balancer answers with its own
 * `AWSALBAPP-0` naming that target and when it was issued, a fresh one on every such answer, and routes requests
 * carrying it there for the stickiness duration after its issue; an older one is balanced as if absent), health
 * checks on /healthz, and a 502 when a target fails mid-request. A request stuck to a target that is down goes to a
 * healthy one, which answers with a new cookie: that is how a user moves off a lost instance.
 */
export async function startBalancer(options: {
  port: number;
  targets: string[];
  log: (line: string) => void;
  /** How long a stickiness cookie is honoured after its issue (default: one day, as the ALB here). */
  stickinessMs?: number;
}): Promise<RunningBalancer> {
  const { targets } = options;
  const stickinessMs = options.stickinessMs ?? DEFAULT_STICKINESS_MS;
  if (stickinessMs !== DEFAULT_STICKINESS_MS) options.log(`stickiness cookies honoured for ${stickinessMs} ms after their issue`);
  const down = new Set<string>();
  let next = 0;

  const pick = (cookie: StickyCookie | undefined): string | undefined => {
    const sticky = cookie && Date.now() - cookie.issuedAt < stickinessMs ? cookie.target : undefined;
    if (sticky && targets.includes(sticky) && !down.has(sticky)) return sticky;
    const healthy = targets.filter((target) => !down.has(target));
    if (healthy.length === 0) return undefined;
    return healthy[next++ % healthy.length];
  };

  const server = createServer((incoming, outgoing) => {
    const target = pick(stickyTarget(incoming));
    if (!target) return fail(outgoing, 503, "no healthy origin");
    forward(incoming, outgoing, target, () => {
      down.add(target);
      options.log(`target ${target} failed a request; marked down until it passes a health check`);
    });
  });

  const probe = setInterval(() => {
    for (const target of targets) {
      fetch(`${target}/healthz`, { signal: AbortSignal.timeout(HEALTH_INTERVAL_MS) }).then(
        (response) => (response.ok ? down.delete(target) : down.add(target)),
        () => down.add(target),
      );
    }
  }, HEALTH_INTERVAL_MS);
  probe.unref();

  const port = await listen(server, options.port, "127.0.0.1", "ORIGIN_PORT");
  return {
    url: `http://127.0.0.1:${port}`,
    healthy: () => targets.filter((target) => !down.has(target)),
    async close() {
      clearInterval(probe);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

function forward(incoming: IncomingMessage, outgoing: ServerResponse, target: string, onFailure: () => void): void {
  const url = new URL(incoming.url ?? "/", target);
  const upstream = httpRequest(url, { method: incoming.method, headers: { ...incoming.headers, host: url.host } }, (answer) => {
    const headers = { ...answer.headers };
    const setsAffinity = [answer.headers["set-cookie"] ?? []]
      .flat()
      .some((cookie) => cookie.startsWith(`${ORIGIN_AFFINITY_COOKIE}=`));
    if (setsAffinity) {
      const value = Buffer.from(JSON.stringify({ target, issuedAt: Date.now() } satisfies StickyCookie)).toString("base64url");
      const sticky = `${STICKY_COOKIE}=${value}; Path=/; HttpOnly`;
      headers["set-cookie"] = [...[answer.headers["set-cookie"] ?? []].flat(), sticky];
    }
    outgoing.writeHead(answer.statusCode ?? 502, headers);
    answer.pipe(outgoing);
    answer.on("error", () => outgoing.destroy());
  });
  upstream.on("error", () => {
    onFailure();
    if (!outgoing.headersSent) fail(outgoing, 502, "the origin failed to answer");
    else outgoing.destroy();
  });
  incoming.pipe(upstream);
  outgoing.on("close", () => upstream.destroy());
}

/** What the stickiness cookie carries: the target it sticks to, and when it was issued (epoch ms). */
interface StickyCookie {
  target: string;
  issuedAt: number;
}

/** The request's stickiness cookie; one this balancer could not have issued counts as absent. */
function stickyTarget(incoming: IncomingMessage): StickyCookie | undefined {
  const cookie = incoming.headers.cookie ?? "";
  const value = new RegExp(`(?:^|;\\s*)${STICKY_COOKIE}=([^;]+)`).exec(cookie)?.[1];
  if (!value) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    const { target, issuedAt } = (parsed ?? {}) as Partial<StickyCookie>;
    return typeof target === "string" && typeof issuedAt === "number" ? { target, issuedAt } : undefined;
  } catch {
    return undefined;
  }
}

function fail(outgoing: ServerResponse, status: number, message: string): void {
  outgoing.writeHead(status, { "content-type": "text/plain" });
  outgoing.end(`${message}\n`);
}
