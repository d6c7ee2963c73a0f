import { env } from "cloudflare:test";
import { inject } from "vitest";
import type { EdgeEnv } from "../../worker/env.ts";
import worker from "../../worker/index.ts";

export const PUBLIC_URL = "http://localhost:8787";

/** The Worker's env from wrangler.toml and the test bindings, pointed at the local IdP the global setup started. */
export function testEnv(overrides: Record<string, unknown> = {}): EdgeEnv {
  return { ...(env as unknown as EdgeEnv), IDP_ISSUER: inject("idpIssuer"), ...overrides };
}

/** Calls the Worker's fetch handler in this workerd isolate, with a test env, waiting for its background work. */
export async function callEdge(
  input: string | Request,
  init?: RequestInit,
  envOverrides?: Record<string, unknown>,
): Promise<Response> {
  const call = startEdgeCall(input, init, envOverrides);
  const response = await call.response;
  await call.settled();
  return response;
}

/**
 * Calls the Worker's fetch handler without waiting for its background work: for an answer that streams (its audit
 * waits for the stream's end, so the test reads the body first) or a request the test aborts.
 */
export function startEdgeCall(
  input: string | Request,
  init?: RequestInit,
  envOverrides?: Record<string, unknown>,
): { response: Promise<Response>; settled: () => Promise<void> } {
  const request = typeof input === "string" ? new Request(new URL(input, PUBLIC_URL), init) : input;
  const waits: Promise<unknown>[] = [];
  const ctx = { waitUntil: (promise: Promise<unknown>) => waits.push(promise), passThroughOnException: () => {}, props: {} };
  const response = Promise.resolve(worker.fetch(request, testEnv(envOverrides), ctx as unknown as ExecutionContext));
  return { response, settled: async () => void (await Promise.allSettled(waits)) };
}
