import { describe, expect, it } from "vitest";
import { callEdge, PUBLIC_URL } from "./edge-env.ts";

describe("discovery", () => {
  it("answers an MCP request without a token with 401 naming the protected-resource metadata", async () => {
    const response = await callEdge(`${PUBLIC_URL}/mcp/everything`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/everything"`);
    expect(challenge).toContain('scope="mcp"');
  });

  it("serves each server's metadata naming exactly the URL a client connects to (VS Code refuses anything else)", async () => {
    for (const server of ["everything", "filesystem"]) {
      const response = await callEdge(`${PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/${server}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as Record<string, unknown>).resource).toBe(`${PUBLIC_URL}/mcp/${server}`);
    }
  });

  it("serves RFC 9728 protected-resource metadata for /mcp", async () => {
    const response = await callEdge(`${PUBLIC_URL}/.well-known/oauth-protected-resource/mcp`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.resource).toBe(`${PUBLIC_URL}/mcp`);
    expect(metadata.authorization_servers).toEqual([PUBLIC_URL]);
  });

  it("serves RFC 8414 authorization-server metadata whose issuer is the URL it was fetched from", async () => {
    const response = await callEdge(`${PUBLIC_URL}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.issuer).toBe(PUBLIC_URL);
    expect(metadata.authorization_endpoint).toBe(`${PUBLIC_URL}/authorize`);
    expect(metadata.registration_endpoint).toBe(`${PUBLIC_URL}/register`);
    expect(metadata.code_challenge_methods_supported).toEqual(["S256"]);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
  });

  it("serves the protected-resource metadata at the root too", async () => {
    const response = await callEdge(`${PUBLIC_URL}/.well-known/oauth-protected-resource`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as Record<string, unknown>).resource).toBe(`${PUBLIC_URL}/mcp`);
  });

  it("lets browser-based clients (the MCP Inspector) read the metadata across origins", async () => {
    const preflight = await callEdge(`${PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/everything`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:6274",
        "access-control-request-method": "GET",
        "access-control-request-headers": "mcp-protocol-version",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
  });
});
