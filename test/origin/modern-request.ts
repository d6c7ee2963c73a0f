import { mcpHeaderValue } from "../../aws/origin/aggregate/fan-out.ts";
import { createForwardStateCodec } from "../../aws/origin/hosting/request-state.ts";
import type { Caller, HostOptions, UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { createUpstreamIdentity } from "../../aws/origin/identity/upstream-identity.ts";
import { createEnvSecretsProvider } from "../../aws/origin/secrets/env/env-secrets.ts";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";

export const MODERN_VERSION = "2026-07-28";

/** The issuer of the identity JWTs the test origin signs for HTTP upstreams, and the key it signs them with. */
export const TEST_ISSUER = "http://origin.test";
export const TEST_IDENTITY_KEY = await generateEdgeSigningKey();

/** Relay settings for tests: a fixed state key, short waits, no keep-alives. */
export const testHostOptions: Omit<HostOptions, "log"> = {
  identity: await createUpstreamIdentity({ issuer: TEST_ISSUER, signingKey: TEST_IDENTITY_KEY, ttlSeconds: 300, log: () => {} }),
  secrets: createEnvSecretsProvider({}),
  stateCodec: createForwardStateCodec("test-request-state-key-0123456789abcdef", 60),
  requestTimeoutMs: 15_000,
  inputWaitMs: 30_000,
  keepAliveMs: 0,
};

/**
 * A 2026-07-28 request as the edge sends it to the origin: the per-request `_meta` envelope and the
 * standard headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`).
 */
export function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  options: { id?: number; capabilities?: Record<string, unknown>; logLevel?: string } = {},
): Request {
  const meta: Record<string, unknown> = {
    ...(params._meta as Record<string, unknown> | undefined),
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": options.capabilities ?? {},
    "io.modelcontextprotocol/clientInfo": { name: "origin-test", version: "1.0.0" },
    ...(options.logLevel && { "io.modelcontextprotocol/logLevel": options.logLevel }),
  };
  const name = params.name ?? params.uri;
  return new Request("http://origin.test/servers/everything/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": method,
      ...(typeof name === "string" && { "mcp-name": mcpHeaderValue(name) }),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: options.id ?? 1, method, params: { ...params, _meta: meta } }),
  });
}

/** The JSON-RPC messages of a response, whether it came as one JSON body or as an SSE stream. */
export async function messagesOf(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if (!response.headers.get("content-type")?.includes("text/event-stream")) return text ? [JSON.parse(text)] : [];
  return text
    .split("\n")
    .filter((line) => line.startsWith("data:") && line.slice(5).trim())
    .map((line) => JSON.parse(line.slice(5)));
}

const ELICITING_CLIENT = { elicitation: { form: {} } };

/**
 * Starts a call of the reference server's `trigger-elicitation-request` on `host`, which its upstream answers by
 * asking the client for input: the call is left parked at the origin. `answer` brings the client's retry (a decline)
 * to `to` (by default the same host) and resolves with the call's last message (its result once resumed; an error
 * when the exchange was lost).
 */
export async function parkedCall(host: UpstreamHost, caller: Caller) {
  const params = { name: "trigger-elicitation-request", arguments: {} };
  const asked = modernRequest("tools/call", params, { capabilities: ELICITING_CLIENT });
  const first = (await messagesOf(await host.fetch(asked, caller))).at(-1);
  const result = first?.result as { resultType?: string; inputRequests?: object; requestState?: string } | undefined;
  if (result?.resultType !== "input_required") throw new Error(`expected input_required, got ${JSON.stringify(first)}`);
  const [key = ""] = Object.keys(result.inputRequests ?? {});
  return {
    async answer(to: UpstreamHost = host) {
      const retryParams = { ...params, inputResponses: { [key]: { action: "decline" } }, requestState: result.requestState };
      const retry = modernRequest("tools/call", retryParams, { id: 2, capabilities: ELICITING_CLIENT });
      return (await messagesOf(await to.fetch(retry, caller))).at(-1) as { result?: unknown; error?: unknown } | undefined;
    },
  };
}
