import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { expect } from "vitest";
import type { LocalSystemOptions } from "../../local/system.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

/**
 * Two origin instances behind the local balancer, serving the fixture's stateful `counter` server, with one user signed
 * in whose child the sign-in has started (warm start) on one instance, which the edge has learned.
 */
export async function signedInCounterSystem(options: Pick<LocalSystemOptions, "affinityTiming"> = {}) {
  const system = await startTestSystem({
    originInstances: 2,
    originFile: {
      path: "two origins",
      content: { servers: { counter: { transport: "stdio", ...stdioFixtureCommand("dual"), env: {} } } },
    },
    ...options,
  });
  const provider = new InMemoryOAuthProvider();
  const transport = () => new StreamableHTTPClientTransport(new URL(`${system.edgeUrl}/mcp/counter`), { authProvider: provider });
  const client = new Client({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(transport())).rejects.toBeInstanceOf(UnauthorizedError);
  await transport().finishAuth(await provider.signInHeadlessly());
  for (let tries = 0; tries < 200 && !system.origins.some((origin) => origin.upstreams() > 0); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { system, transport };
}

/** One call of the counter: its new value, and the process that counted. */
export const count = async (client: Client) =>
  (await client.callTool({ name: "counter_increment", arguments: {} })).structuredContent as { value: number; pid: number };
