import type { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER, type EdgeAssertionClaims } from "../../contract/edge-assertion.ts";
import type { OriginAffinityStore } from "./affinity.ts";
import { signAssertion } from "./sign-assertion.ts";

/** The origin's answer to an assertion bound to another instance: the balancer sent the request elsewhere. */
const MISDIRECTED = 421;

type OriginRequestInit = { method: string; headers: Headers; body?: string | null; signal?: AbortSignal };

/**
 * The one way the edge talks to the origin: every request carries a fresh assertion and nothing of the client's
 * credentials. With an affinity store, a user's requests carry the balancer's stickiness cookies, so they reach
 * the instance that holds the user's upstreams, and the assertion names that instance: only it accepts the
 * assertion, so it can tell a replay from memory instead of a database write. When the balancer sent the request
 * to another instance (the user's was lost or replaced), that instance refuses it (421) and names itself; the
 * request is sent once more, bound to the instance now known.
 */
export async function fetchOrigin(
  config: EdgeConfig,
  path: string,
  claims: EdgeAssertionClaims,
  init: OriginRequestInit,
  affinity?: OriginAffinityStore,
): Promise<Response> {
  const first = await sendOnce(config, path, claims, init, affinity);
  if (first.status !== MISDIRECTED || !affinity) return first;
  await first.body?.cancel();
  return sendOnce(config, path, claims, init, affinity);
}

async function sendOnce(
  config: EdgeConfig,
  path: string,
  claims: EdgeAssertionClaims,
  init: OriginRequestInit,
  affinity?: OriginAffinityStore,
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.delete("cookie");
  const sent = await affinity?.current(claims.sub);
  if (sent?.cookies) headers.set("cookie", sent.cookies);
  const bound = sent ? { ...claims, instance: sent.instance } : claims;
  headers.set(EDGE_ASSERTION_HEADER, await signAssertion(config, bound));
  // Only the wait for the answer to begin is bounded: an answer that streams (a long call, a listen stream) may
  // last as long as it needs. The runtime's own timeout signal costs no timer to clear on every request: once the
  // answer has begun, its firing is simply no longer listened to.
  const gaveUp = new AbortController();
  const deadline = AbortSignal.timeout(config.originAnswerTimeoutSeconds * 1000);
  const giveUp = () => gaveUp.abort(new OriginTimeout(config.originAnswerTimeoutSeconds));
  deadline.addEventListener("abort", giveUp, { once: true });
  let response: Response;
  try {
    const signal = init.signal ? AbortSignal.any([init.signal, gaveUp.signal]) : gaveUp.signal;
    response = await fetch(`${config.originUrl}${path}`, { ...init, headers, redirect: "manual", signal });
  } catch (error) {
    throw gaveUp.signal.aborted ? gaveUp.signal.reason : error;
  } finally {
    deadline.removeEventListener("abort", giveUp);
  }
  await affinity?.learn(claims.sub, sent, response);
  return response;
}

/** The origin did not begin to answer in time. */
export class OriginTimeout extends Error {
  constructor(seconds: number) {
    super(`the origin did not answer within ${seconds} s`);
    this.name = "OriginTimeout";
  }
}
