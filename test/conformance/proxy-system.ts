import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { startTestSystem } from "../e2e/local-system.ts";
import { InMemoryOAuthProvider } from "../e2e/oauth-client.ts";
import { type FixtureEra, stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTokenForwarder, type TokenForwarder } from "./token-forwarder.ts";

/** The two upstreams the origin hosts over stdio: the fixture in each era it can speak. */
export const UPSTREAMS = { modern: "dual", legacy: "legacy" } as const satisfies Record<string, FixtureEra>;
export type UpstreamName = keyof typeof UPSTREAMS;

export interface ProxySystem {
  edgeUrl: string;
  /** Per upstream, the forwarder URL a conformance run targets (it adds the token and reaches `<edge>/mcp/<name>`). */
  forwarders: Record<UpstreamName, TokenForwarder>;
  /** What the system's parts printed so far (the latest lines), for diagnosing a failure. */
  output(): readonly string[];
  close(): Promise<void>;
}

function upstreamServers(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(UPSTREAMS).map(([name, era]) => [name, { transport: "stdio", ...stdioFixtureCommand(era), env: {} }]),
  );
}

/**
 * A real access token for `resource`, obtained as an MCP client obtains it: the SDK v2 client meets the edge's 401,
 * discovers the authorization server, registers itself (DCR), and after the browser step (consent at the edge,
 * sign-in at the local IdP) exchanges the code at the token endpoint.
 */
async function signIn(resource: URL): Promise<string> {
  const provider = new InMemoryOAuthProvider();
  const client = new Client({ name: "conformance-through-proxy", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  const refused = await client.connect(new StreamableHTTPClientTransport(resource, { authProvider: provider })).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(refused instanceof UnauthorizedError)) throw new Error(`expected the edge to ask for sign-in, got ${String(refused)}`);
  const callback = await provider.signInHeadlessly();
  await new StreamableHTTPClientTransport(resource, { authProvider: provider }).finishAuth(callback);
  const token = provider.accessToken;
  if (!token) throw new Error("the token endpoint issued no access token");
  return token;
}

/**
 * Starts the whole local system as `npm start` does (free ports, a temporary data folder), with the origin hosting the
 * conformance fixture over stdio as `modern` (`--era dual`) and `legacy` (`--era legacy`), signs in once per server,
 * and starts a token forwarder for each.
 */
export async function startProxySystem(): Promise<ProxySystem> {
  const system = await startTestSystem({
    originFile: { path: "conformance through the proxy", content: { servers: upstreamServers() } },
  });
  const forwarders: Partial<Record<UpstreamName, TokenForwarder>> = {};
  const close = async () => {
    await Promise.all(Object.values(forwarders).map((forwarder) => forwarder.close()));
    await system.close();
  };
  try {
    for (const name of Object.keys(UPSTREAMS) as UpstreamName[]) {
      const target = new URL(`${system.edgeUrl}/mcp/${name}`);
      forwarders[name] = await startTokenForwarder({ target: target.toString(), accessToken: await signIn(target) });
    }
    return {
      edgeUrl: system.edgeUrl,
      forwarders: forwarders as Record<UpstreamName, TokenForwarder>,
      output: system.output,
      close,
    };
  } catch (error) {
    console.error(system.output().join("\n"));
    await close();
    throw error;
  }
}
