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
  const request = typeof input === "string" ? new Request(new URL(input, PUBLIC_URL), init) : input;
  const waits: Promise<unknown>[] = [];
  const ctx = { waitUntil: (promise: Promise<unknown>) => waits.push(promise), passThroughOnException: () => {}, props: {} };
  const response = await worker.fetch(request, testEnv(envOverrides), ctx as unknown as ExecutionContext);
  await Promise.allSettled(waits);
  return response;
}
