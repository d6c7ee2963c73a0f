import { readFile } from "node:fs/promises";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { ORIGIN_INSTANCE_HEADER } from "../../contract/origin-affinity.ts";
import { signAssertion } from "../../worker/upstream/sign-assertion.ts";
import { InMemoryOAuthProvider } from "../e2e/oauth-client.ts";
import { type BenchClient, recordingFetch } from "./load.ts";

const firstCall = { name: "echo", arguments: { message: "first" } };

/** A 2025-era session of an SDK v2 client (rows A and B: supergateway, directly or through the bare Worker). */
export async function plainSession(url: URL): Promise<BenchClient> {
  const recording = recordingFetch();
  const client = new Client({ name: "bench-plain", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { fetch: recording.fetch }));
  await client.callTool(firstCall);
  return { template: recording.template(), close: () => client.close() };
}

/** Signs in once through the edge (OAuth with the local IdP, as an MCP client does) and keeps the tokens. */
export async function signIn(mcpUrl: URL): Promise<InMemoryOAuthProvider> {
  const provider = new InMemoryOAuthProvider();
  const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await new Client({ name: "bench-sign-in", version: "1.0.0" }).connect(first).catch(() => {});
  await first.finishAuth(await provider.signInHeadlessly());
  return provider;
}

/** Row C: a 2026-07-28 client (SDK v2, version negotiation) through the edge; no session, relayed to the origin. */
export async function modernClient(mcpUrl: URL, provider: InMemoryOAuthProvider): Promise<BenchClient> {
  const recording = recordingFetch();
  const client = new Client({ name: "bench-modern", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: recording.fetch }));
  if (client.getNegotiatedProtocolVersion() !== "2026-07-28") {
    throw new Error(`the modern client negotiated ${client.getNegotiatedProtocolVersion()}, not 2026-07-28`);
  }
  await client.callTool(firstCall);
  return { template: recording.template(), close: () => client.close() };
}

/** Row D: a 2025-11-25 client (SDK v1) through the edge: its own session object. */
export async function legacyClient(mcpUrl: URL, provider: InMemoryOAuthProvider): Promise<BenchClient> {
  const recording = recordingFetch();
  const client = new V1Client({ name: "bench-legacy", version: "1.0.0" });
  const transport = new V1Transport(mcpUrl, { authProvider: provider as never, fetch: recording.fetch });
  await client.connect(transport);
  if (!transport.sessionId) throw new Error("the legacy client got no Mcp-Session-Id");
  await client.callTool(firstCall);
  return {
    template: recording.template(),
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

/**
 * The middle row: the origin called directly, each request under a fresh edge assertion signed in this process
 * (before the timer starts), as the edge would sign it. Tells the origin's share of C from the edge's.
 */
export async function originClient(originUrl: string, edgeEnvFile: string): Promise<BenchClient> {
  const env = Object.fromEntries(
    (await readFile(edgeEnvFile, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 2, -1)]),
  );
  const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
  // Bound to the instance once it named itself, as the edge binds a user's assertions (worker/upstream/fetch-origin.ts).
  const claims: { sub: string; client_id: string; server: string; instance?: string } = {
    sub: "bench-user",
    client_id: "bench",
    server: "everything",
  };
  const header = EDGE_ASSERTION_HEADER.toLowerCase();
  const perRequest = async () => ({ [header]: await signAssertion(config, claims) });
  const signing: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set(header, await signAssertion(config, claims));
    const response = await fetch(input, { ...init, headers });
    claims.instance ??= response.headers.get(ORIGIN_INSTANCE_HEADER) ?? undefined;
    return response;
  };
  const recording = recordingFetch(signing);
  const client = new Client({ name: "bench-origin", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${originUrl}/servers/everything/mcp`), { fetch: recording.fetch }),
  );
  await client.callTool(firstCall);
  return { template: recording.template(), perRequest, close: () => client.close() };
}
