import type { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER, type EdgeAssertionClaims } from "../../contract/edge-assertion.ts";
import type { OriginAffinityStore } from "./affinity.ts";
import { signAssertion } from "./sign-assertion.ts";

/**
 * The one way the edge talks to the origin: every request carries a fresh assertion and nothing of the client's
 * credentials. With an affinity store, a user's requests carry the balancer's stickiness cookies, so they reach
 * the instance that holds the user's upstreams.
 */
export async function fetchOrigin(
  config: EdgeConfig,
  path: string,
  claims: EdgeAssertionClaims,
  init: { method: string; headers: Headers; body?: BodyInit | null; signal?: AbortSignal },
  affinity?: OriginAffinityStore,
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.delete("cookie");
  headers.set(EDGE_ASSERTION_HEADER, await signAssertion(config, claims));
  const sent = await affinity?.current(claims.sub);
  if (sent?.cookies) headers.set("cookie", sent.cookies);
  const response = await fetch(`${config.originUrl}${path}`, { ...init, headers, redirect: "manual" });
  await affinity?.learn(claims.sub, sent, response);
  return response;
}
