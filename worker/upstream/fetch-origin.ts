import type { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER, type EdgeAssertionClaims } from "../../contract/edge-assertion.ts";
import { signAssertion } from "./sign-assertion.ts";

/** The one way the edge talks to the origin: every request carries a fresh assertion and nothing of the client's credentials. */
export async function fetchOrigin(
  config: EdgeConfig,
  path: string,
  claims: EdgeAssertionClaims,
  init: { method: string; headers: Headers; body?: BodyInit | null; signal?: AbortSignal },
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set(EDGE_ASSERTION_HEADER, await signAssertion(config, claims));
  return fetch(`${config.originUrl}${path}`, { ...init, headers, redirect: "manual" });
}
