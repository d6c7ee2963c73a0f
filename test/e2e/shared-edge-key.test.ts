import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EDGE_ASSERTION_HEADER, EDGE_ASSERTION_TYPE, EDGE_JWKS_PATH } from "../../contract/edge-assertion.ts";
import { waitForAuditRows } from "./audit-rows.ts";
import { startTestSystem } from "./local-system.ts";
import { signedInProvider } from "./oauth-client.ts";

// The whole system with the edge signing its assertions under an HMAC key the origin holds too (`LOCAL_EDGE_KEY=shared`).
let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({ edgeKey: "shared" });
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/everything`);

const signedIn = () => signedInProvider(mcpUrl());

describe("an edge that signs with a key shared with the origin", () => {
  it("publishes no key, so the secret never leaves the two tiers", async () => {
    const response = await fetch(`${system.edgeUrl}${EDGE_JWKS_PATH}`);
    expect(await response.json()).toEqual({ keys: [] });
  });

  it("relays both eras' calls and delivers their audit (each hop under a shared-key assertion)", async () => {
    const provider = await signedIn();
    const modern = new ClientV2({ name: "e2e-shared-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await modern.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
    expect(modern.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    const fromModern = await modern.callTool({ name: "echo", arguments: { message: "shared key, modern" } });
    expect(fromModern.content).toEqual([{ type: "text", text: "Echo: shared key, modern" }]);
    await modern.close();

    const legacy = new ClientV1({ name: "e2e-shared-v1", version: "1.0.0" });
    await legacy.connect(new TransportV1(mcpUrl(), { authProvider: provider as never }));
    const fromLegacy = await legacy.callTool({ name: "echo", arguments: { message: "shared key, legacy" } });
    expect(fromLegacy.content).toEqual([{ type: "text", text: "Echo: shared key, legacy" }]);
    await legacy.close();

    const clientId = (provider.clientInformation() as { client_id: string }).client_id;
    const rows = await waitForAuditRows(
      system.databaseUrl,
      { clientId },
      (found) => found.filter((row) => row.tool === "echo").length >= 2,
    );
    expect(
      rows
        .filter((row) => row.tool === "echo")
        .map((row) => row.protocol_version)
        .sort(),
    ).toEqual(["2025-11-25", "2026-07-28"]);
  });

  it("refuses at the origin an assertion signed with an EC key, however valid its claims", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ sub: "dev", client_id: "c", server: "everything" })
      .setProtectedHeader({ alg: "ES256", typ: EDGE_ASSERTION_TYPE, kid: "attacker" })
      .setIssuer(system.edgeUrl)
      .setAudience(system.originUrl)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    const response = await fetch(`${system.originUrl}/servers/everything/mcp`, {
      method: "POST",
      headers: { [EDGE_ASSERTION_HEADER]: forged, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_edge_assertion", reason: "algorithm" });
  });
});
