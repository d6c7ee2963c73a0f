import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localGoogleConfig } from "../../local/fake-google/local-google.ts";
import { freePort } from "../../local/free-port.ts";
import { followRedirects } from "../../local/idp/headless-sign-in.ts";
import { type LocalSystem, startLocalSystem } from "../../local/system.ts";
import { waitForAuditRows } from "./audit-rows.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// The whole local system with google.checkAccounts on: a user the Workspace administrator suspends at the (fake)
// Directory is refused by the edge within its groups TTL, and signed out everywhere; the origin reads the account with
// the real federation code against the fake Google, the edge runs under wrangler dev. The system is started here
// rather than by startTestSystem, to give the fake Google a port the origin file's google block can name.

const TTL_SECONDS = 5;
const DEV = "dev@example.com";

let system: LocalSystem;
let dataDir: string;
const output: string[] = [];
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "mcp-edge-e2e-"));
  const ports = {
    edge: await freePort(),
    edgeInspector: await freePort(),
    origin: await freePort(),
    idp: await freePort(),
    database: await freePort(),
    google: await freePort(),
    originInstances: [await freePort()],
  };
  try {
    system = await startLocalSystem({
      ports,
      dataDir,
      databaseUrl: process.env.DATABASE_URL || undefined,
      groupsFreshness: { edgeTtlSeconds: TTL_SECONDS, originCacheSeconds: 0 },
      originFile: {
        path: "google offboarding test",
        content: {
          google: { ...localGoogleConfig(`http://127.0.0.1:${ports.google}`), checkAccounts: true, cacheSeconds: 0 },
        },
      },
      log: (part, line) => void output.push(`[${part}] ${line}`),
    });
  } catch (error) {
    console.error(output.join("\n"));
    throw error;
  }
});
afterAll(async () => {
  await system?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/everything`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A signed-in SDK client and its provider (which holds its tokens and registration). */
async function connected(): Promise<{ client: ClientV2; provider: InMemoryOAuthProvider }> {
  const provider = new InMemoryOAuthProvider();
  const probe = new ClientV2({ name: "sign-in", version: "1.0.0" });
  await probe.connect(new TransportV2(mcpUrl(), { authProvider: provider })).catch(() => {});
  const callback = await provider.signInHeadlessly();
  await new TransportV2(mcpUrl(), { authProvider: provider }).finishAuth(callback);
  const client = new ClientV2({ name: "e2e-offboarding", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
  return { client, provider };
}

/** A bare MCP request with this access token: the status and challenge are what the edge decides before relaying. */
const bareRequest = (accessToken: string) =>
  fetch(mcpUrl(), {
    method: "POST",
    headers: {
      authorization: `Bearer ${accessToken}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });

describe("offboarding from Google Workspace through the local system", () => {
  it("a user suspended at the Directory is refused within the TTL and signed out everywhere, audited", async () => {
    const since = new Date();
    const laptop = await connected();
    const desktop = await connected();
    const echo = await laptop.client.callTool({ name: "echo", arguments: { message: "here" } });
    expect(echo.content).toEqual([{ type: "text", text: "Echo: here" }]);
    const laptopToken = laptop.provider.accessToken ?? "";
    const desktopTokens = desktop.provider.tokens() as { access_token: string; refresh_token: string };
    const desktopClient = (desktop.provider.clientInformation() as { client_id: string }).client_id;

    system.google.setAccount(DEV, "suspended");
    const deadline = Date.now() + (TTL_SECONDS + 20) * 1000;
    let refused: Response | undefined;
    while (!refused && Date.now() < deadline) {
      const answer = await bareRequest(laptopToken);
      if (answer.status === 401) refused = answer;
      else await answer.body?.cancel();
      if (!refused) await sleep(1000);
    }
    if (!refused) throw new Error(`no 401 within ${TTL_SECONDS + 20} s of the suspension`);
    expect(refused.headers.get("www-authenticate")).toMatch(/error="invalid_token", error_description="[^"]*suspended/);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /Google Workspace account is suspended.*Workspace administrator/,
    );

    // The other client's grant went too: its refresh token is refused, whatever the Directory says now.
    system.google.setAccount(DEV, undefined);
    const refresh = await fetch(`${system.edgeUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: desktopTokens.refresh_token,
        client_id: desktopClient,
      }),
    });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");

    const rows = await waitForAuditRows(
      system.databaseUrl,
      { kind: "auth.user_signed_out", clientId: "directory:google", since },
      (found) => found.length > 0,
    );
    expect(rows).toEqual([expect.objectContaining({ user_email: DEV, outcome: "ok" })]);
    await laptop.client.close().catch(() => {});
    await desktop.client.close().catch(() => {});
  });

  it("a suspended user's sign-in is refused with a page that says why", async () => {
    system.google.setAccount(DEV, "suspended");
    const provider = new InMemoryOAuthProvider();
    const probe = new ClientV2({ name: "sign-in", version: "1.0.0" });
    await probe.connect(new TransportV2(mcpUrl(), { authProvider: provider })).catch(() => {});
    // The browser's way through consent and the IdP, to wherever the chain ends: the edge's callback refuses.
    const ended = await followRedirects(String(provider.authorizationUrl), { approveForms: true });
    expect(`${ended.finalUrl.origin}${ended.finalUrl.pathname}`).toBe(`${system.edgeUrl}/callback`);
    expect(ended.status).toBe(403);
    expect(ended.body).toMatch(/Google Workspace account is suspended.*ask a Workspace administrator/s);
    system.google.setAccount(DEV, undefined);
  });
});
