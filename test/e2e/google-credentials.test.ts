import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_USER_SCOPES } from "../../local/fake-google/local-google.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// Google credentials per user through the whole local system: SDK clients of both eras sign in at the edge as
// dev@example.com, and the stdio upstream behind it finds in its environment a Google token that acts as that user
// with the server's scopes (Google's tokeninfo, asked as an upstream would, says so). A scope the domain did not
// delegate fails the call with an error that names the server and the fix.

const DEV = "dev@example.com";
const SCOPES = LOCAL_USER_SCOPES.filter((scope) => !scope.includes("calendar"));
const NOT_DELEGATED = "https://www.googleapis.com/auth/gmail.readonly";
const MODERN = "2026-07-28";

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  const fixture = { ...stdioFixtureCommand("dual"), transport: "stdio" };
  system = await startTestSystem({
    originFile: {
      path: "google credentials test",
      content: {
        servers: {
          drive: { ...fixture, googleCredentials: { scopes: SCOPES, inject: { env: "MCP_GOOGLE_TOKEN" } } },
          mail: { ...fixture, googleCredentials: { scopes: [NOT_DELEGATED], inject: { env: "MCP_GOOGLE_TOKEN" } } },
        },
      },
    },
  });
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = (server: string) => new URL(`${system.edgeUrl}/mcp/${server}`);

async function signedIn(server: string): Promise<InMemoryOAuthProvider> {
  const provider = new InMemoryOAuthProvider();
  const probe = new ClientV2({ name: "sign-in", version: "1.0.0" });
  await probe.connect(new TransportV2(mcpUrl(server), { authProvider: provider })).catch(() => {});
  const callback = await provider.signInHeadlessly();
  await new TransportV2(mcpUrl(server), { authProvider: provider }).finishAuth(callback);
  return provider;
}

/** What Google's tokeninfo says of a token: its scopes, and the user's e-mail (the token has the e-mail scope). */
async function tokenInfo(token: string): Promise<{ email?: string; scope?: string }> {
  const response = await fetch(`${system.google.url}/tokeninfo?access_token=${encodeURIComponent(token)}`);
  return (await response.json()) as { email?: string; scope?: string };
}

const tokenOf = (result: unknown) =>
  (result as { structuredContent?: { environment?: Record<string, string> } }).structuredContent?.environment?.MCP_GOOGLE_TOKEN ??
  "";

describe("a stdio upstream behind the edge gets a Google token of its user", () => {
  it("a 2026-07-28 SDK client's call: the child holds dev@example.com's token with the server's scopes", async () => {
    const provider = await signedIn("drive");
    const client = new ClientV2({ name: "e2e-google", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new TransportV2(mcpUrl("drive"), { authProvider: provider }));
    const token = tokenOf(await client.callTool({ name: "whoami", arguments: {} }));
    const info = await tokenInfo(token);
    expect(info.email).toBe(DEV);
    expect(info.scope?.split(" ").sort()).toEqual([...SCOPES].sort());
    // The edge's own token for the client is not what the upstream holds.
    expect(token).not.toBe(provider.accessToken);
    await client.close();
  });

  it("a 2025-era SDK client's call gets the same user's token in its own child", async () => {
    const provider = await signedIn("drive");
    const client = new ClientV1({ name: "e2e-google-v1", version: "1.0.0" });
    await client.connect(new TransportV1(mcpUrl("drive"), { authProvider: provider as never }));
    const token = tokenOf(await client.callTool({ name: "whoami", arguments: {} }));
    expect((await tokenInfo(token)).email).toBe(DEV);
    await client.close();
  });

  it("a scope the domain did not delegate: the call's JSON-RPC error names the server, the step and the scope", async () => {
    const provider = await signedIn("mail");
    const response = await fetch(mcpUrl("mail"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${provider.accessToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "whoami",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "whoami",
          arguments: {},
          _meta: {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { name: "e2e-google", version: "1.0.0" },
          },
        },
      }),
    });
    const answer = (await response.json()) as { error?: { code: number; message: string } };
    expect(response.status).toBe(503);
    expect(answer.error?.message).toContain('server "mail"');
    expect(answer.error?.message).toContain("delegation step");
    expect(answer.error?.message).toContain(NOT_DELEGATED);
  });
});
