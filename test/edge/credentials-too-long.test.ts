import { describe, expect, it, vi } from "vitest";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";
import { authorizeUrl, mcpStatus, registerClient, tokenRequest } from "./sign-in.ts";

// A client id or a token longer than anything the edge issues would make a KV key past KV's 512 bytes, which KV
// refuses with an error the OAuth library does not expect (s23 hunt fuzz F3: 500 on the OAuth endpoints, an empty 503
// on MCP that was neither limited nor audited). Each is refused as one that matches nothing (worker/auth/key-bounds.ts).
const LONG = "x".repeat(600);
const TOKEN = `a:${LONG}:b`;

describe("a client id or token too long to be one", () => {
  it("is an unknown client at /authorize", async () => {
    const answer = await callEdge(`${PUBLIC_URL}${authorizeUrl(LONG, "c".repeat(43))}`, {
      headers: { accept: "application/json" },
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: "invalid_client" });
  });

  it("is an unknown client, grant or token at /oauth/token, in the words of one that matches nothing", async () => {
    const code = { grant_type: "authorization_code", code: "a:b:c", code_verifier: "v".repeat(43), redirect_uri: "x" };
    const unknownClient = await tokenRequest({ ...code, client_id: LONG });
    expect(unknownClient.status).toBe(401);
    expect(unknownClient.headers.get("www-authenticate")).toBeNull();
    expect(await unknownClient.json()).toMatchObject({ error: "invalid_client" });
    // Basic credentials however the library finds them (a tab or two spaces after the scheme), and an assertion's iss.
    for (const separator of [" ", "\t", "  "]) {
      const basic = await callEdge("/oauth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic${separator}${btoa(`${LONG}:`)}` },
        body: new URLSearchParams(code),
      });
      expect(basic.status, JSON.stringify(separator)).toBe(401);
      expect(basic.headers.get("www-authenticate"), JSON.stringify(separator)).toBe('Basic realm="OAuth"');
    }
    const part = (claims: object) => btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const assertion = `${part({ alg: "ES256" })}.${part({ iss: LONG, sub: LONG, aud: "x" })}.c2ln`;
    const asserted = await tokenRequest({
      ...code,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: assertion,
    });
    expect(asserted.status).toBe(401);
    const clientId = await registerClient();
    const refresh = await tokenRequest({ grant_type: "refresh_token", client_id: clientId, refresh_token: TOKEN });
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: "invalid_grant" });
    const exchange = await tokenRequest({ ...code, client_id: clientId, code: TOKEN });
    expect(exchange.status).toBe(400);
    const revocation = await tokenRequest({ token: TOKEN, client_id: clientId });
    expect(revocation.status).toBe(200);
  });

  it("is an invalid token at /mcp: 401 with its challenge, audited as a refused token", async () => {
    const audit = capturedAudit();
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      expect(await mcpStatus(TOKEN, "everything", audit.env)).toBe(401);
      // However the library reads the header: a tab or two spaces after the scheme.
      for (const separator of [" ", "\t", "  "]) {
        const authorization = `Bearer${separator}${TOKEN}`;
        const answer = await callEdge("/mcp", { method: "POST", headers: { authorization } }, audit.env);
        expect(answer.status, JSON.stringify(separator)).toBe(401);
        expect(answer.headers.get("www-authenticate")).toContain("invalid_token");
      }
    } finally {
      warned.mockRestore();
    }
    expect(audit.events.filter((event) => event.kind === "auth.denied")).toHaveLength(4);
  });
});
