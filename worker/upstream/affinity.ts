import {
  AFFINITY_REFRESH_MS,
  isBalancerCookie,
  ORIGIN_INSTANCE_HEADER,
  TEST_AFFINITY_REFRESH_VARIABLE,
} from "../../contract/origin-affinity.ts";
import type { Affinity } from "../../durable-objects/origin-affinity.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";

/** How long an isolate trusts what it last learned of a user's instance before asking the user's object again. */
const CACHE_MS = 30_000;
const MAX_CACHED = 10_000;
/** How long the edge waits for a user's instance to show it still answers, after the balancer answered for it. */
const PROBE_TIMEOUT_MS = 2000;

/** One user's stickiness to an origin instance, as the edge keeps it (see contract/origin-affinity.ts). */
export interface OriginAffinityStore {
  /** The balancer cookies to send for this user, if they are stuck to an instance. */
  current(userSub: string): Promise<Affinity | undefined>;
  /**
   * Learns from an origin answer to a request sent with `sent`: a new instance, a lost one, or, once the cookies
   * sent are older than the refresh interval, the fresh cookies of the same instance.
   */
  learn(userSub: string, sent: Affinity | undefined, response: Response): Promise<void>;
}

const cache = new Map<string, { affinity: Affinity | undefined; at: number }>();

/** The store over the users' OriginAffinity objects, cached in the isolate so that most requests cost no hop. */
export function originAffinity(env: EdgeEnv): OriginAffinityStore {
  const refreshMs = refreshInterval(env);
  const objectOf = (userSub: string) => env.ORIGIN_AFFINITY.get(env.ORIGIN_AFFINITY.idFromName(userSub));
  const remember = (userSub: string, affinity: Affinity | undefined) => {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(userSub, { affinity, at: Date.now() });
  };
  return {
    async current(userSub) {
      const cached = cache.get(userSub);
      if (cached && Date.now() - cached.at < CACHE_MS) return cached.affinity;
      const affinity = await objectOf(userSub).current();
      remember(userSub, affinity);
      return affinity;
    },
    async learn(userSub, sent, response) {
      const instance = response.headers.get(ORIGIN_INSTANCE_HEADER);
      if (!instance && response.status >= 502 && response.status <= 504 && sent) {
        // The balancer answered for the instance the user was stuck to (an instance's own 503, say with its
        // database down, names itself and moves nobody). A lost instance: let the balancer choose anew next time.
        // One broken connection to an instance that still answers: keep the user there, with their children.
        if (await stillAnswering(edgeConfig(env).originUrl, sent)) return;
        await objectOf(userSub).forget(sent.instance);
        remember(userSub, undefined);
        return;
      }
      if (!instance) return;
      if (instance === sent?.instance) {
        // The same instance: nothing to learn while the cookies sent are younger than the refresh interval (most
        // requests: no hop). Older ones, or ones stored without a date by older code, are replaced by the fresh
        // cookies of this answer (an answer without any, from no balancer, changes nothing).
        if (sent.learnedAt !== undefined && Date.now() - sent.learnedAt < refreshMs) return;
        const cookies = balancerCookies(response);
        if (!cookies) return;
        remember(userSub, await objectOf(userSub).settle(sent.instance, { instance, cookies }, sent.learnedAt));
        return;
      }
      remember(userSub, await objectOf(userSub).settle(sent?.instance, { instance, cookies: balancerCookies(response) }));
    },
  };
}

/**
 * Whether the balancer, asked with the user's cookies, still reaches their instance and it answers its health check.
 * (The local balancer marks a target down at its first failed request, so there the user always moves; the ALB waits
 * for its health checks.)
 */
async function stillAnswering(originUrl: string, sent: Affinity): Promise<boolean> {
  try {
    const response = await fetch(`${originUrl}/healthz`, {
      headers: sent.cookies ? { cookie: sent.cookies } : {},
      redirect: "manual",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok && response.headers.get(ORIGIN_INSTANCE_HEADER) === sent.instance;
  } catch {
    return false;
  }
}

/** The balancer's stickiness cookies an answer sets, as `name=value` pairs ready to send back. */
function balancerCookies(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(";")[0]?.trim() ?? "")
    .filter((pair) => isBalancerCookie(pair.split("=")[0] ?? ""))
    .join("; ");
}

function refreshInterval(env: EdgeEnv): number {
  const value = env[TEST_AFFINITY_REFRESH_VARIABLE];
  const shortened = typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  return shortened >= 0 ? Math.min(shortened, AFFINITY_REFRESH_MS) : AFFINITY_REFRESH_MS;
}
