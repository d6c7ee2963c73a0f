import type { Hono, MiddlewareHandler } from "hono";
import type { Policy } from "../../../contract/config/policy.ts";
import { WARM_PATH, WarmRequest } from "../../../contract/warm-request.ts";
import { userPolicy } from "../policy/user-policy.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { failureText } from "./failure-text.ts";
import type { HostPool } from "./host-pool.ts";
import { callerOf } from "./mcp-route.ts";
import type { Caller } from "./upstream-host.ts";

type OriginEnv = { Variables: AssertionVariables };

export interface WarmParts {
  pool: HostPool;
  policy?: Policy;
  /**
   * The stickiness cookie an MCP answer sets (`Set-Cookie` value): the warm answer sets it too, so that the balancer
   * keeps the user's calls on the instance that started their upstreams.
   */
  affinityCookie: string;
  log: (line: string) => void;
}

/**
 * `POST /servers/warm`: at sign-in, the edge has the user's upstreams started in the background, so that their first
 * call does not wait for a spawn. Answered at once (202) with the servers being started: those named that this origin
 * serves and the policy lets the user use (the others are ignored). Only an assertion
 * minted for this purpose (`purpose: "warm"`) opens it, and it starts nothing but the named user's own upstreams.
 */
export function registerWarmRoute(app: Hono<OriginEnv>, guarded: MiddlewareHandler<OriginEnv>, parts: WarmParts): void {
  app.post(WARM_PATH, guarded, async (c) => {
    const { assertion } = c.var;
    if (assertion.purpose !== "warm") {
      const detail = `starting upstreams at sign-in needs an assertion with purpose "warm"; this one's purpose is "${assertion.purpose}"`;
      return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
    }
    const request = WarmRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!request.success) {
      const problems = request.error.issues.slice(0, 10).map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`);
      return c.json({ error: "invalid_warm_request", problems }, 400);
    }
    const access = userPolicy(parts.policy, assertion);
    const warming = [...new Set(request.data.servers)].filter(
      (server) => parts.pool.serves(server) && access.server(server).allowed,
    );
    for (const server of warming) void warm(parts, server, callerOf(assertion, server));
    return c.json({ warming }, 202, { "set-cookie": parts.affinityCookie });
  });
}

/** Starts one upstream and lets it go idle at once; failing here costs the sign-in nothing (the first call retries). */
async function warm(parts: WarmParts, server: string, caller: Caller): Promise<void> {
  try {
    (await parts.pool.acquire(server, caller)).release();
  } catch (error) {
    parts.log(`warming "${server}" at sign-in did not start it: ${failureText(error)}`);
  }
}
