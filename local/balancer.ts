import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "../aws/origin/listen.ts";
import { ORIGIN_AFFINITY_COOKIE } from "../contract/origin-affinity.ts";

/** The stickiness cookie, named as the ALB names its first application-stickiness cookie. */
const STICKY_COOKIE = "AWSALBAPP-0";
/** How often targets are probed (the ALB's shortest health-check interval is 5 s; tests want less). */
const HEALTH_INTERVAL_MS = 1000;

export interface RunningBalancer {
  url: string;
  /** Targets currently considered healthy. */
  healthy(): string[];
  close(): Promise<void>;
}

/**
 * A small load balancer that behaves like the ALB in front of the origins: round robin over healthy targets,
 * application-cookie stickiness (when a target's answer sets `MCP_ORIGIN`, the balancer answers with its own
 * `AWSALBAPP-0` naming that target, and routes requests carrying it there), health checks on /healthz, and a
 * 502 when a target fails mid-request. A request stuck to a target that is down goes to a healthy one, which
 * answers with a new cookie: that is how a user moves off a lost instance.
 */
export async function startBalancer(options: {
  port: number;
  targets: string[];
  log: (line: string) => void;
}): Promise<RunningBalancer> {
  const { targets } = options;
  const down = new Set<string>();
  let next = 0;

  const pick = (sticky: string | undefined): string | undefined => {
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
      const sticky = `${STICKY_COOKIE}=${Buffer.from(target).toString("base64url")}; Path=/; HttpOnly`;
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

function stickyTarget(incoming: IncomingMessage): string | undefined {
  const cookie = incoming.headers.cookie ?? "";
  const value = new RegExp(`(?:^|;\\s*)${STICKY_COOKIE}=([^;]+)`).exec(cookie)?.[1];
  return value ? Buffer.from(value, "base64url").toString("utf8") : undefined;
}

function fail(outgoing: ServerResponse, status: number, message: string): void {
  outgoing.writeHead(status, { "content-type": "text/plain" });
  outgoing.end(`${message}\n`);
}
