import { describe, expect, it } from "vitest";
import { REGISTRATION_LIMITS } from "../../worker/auth/registration-policy.ts";
import { callEdge, testEnv } from "./edge-env.ts";
import { CLIENT_REDIRECT } from "./sign-in.ts";

// Dynamic registration costs a caller nothing and is stored for days: each bound, and a request past it.

const register = (metadata: object, init: RequestInit = {}, env?: Record<string, unknown>) =>
  callEdge(
    "/register",
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "Client",
        redirect_uris: [CLIENT_REDIRECT],
        token_endpoint_auth_method: "none",
        ...metadata,
      }),
      ...init,
    },
    env,
  );

describe("dynamic registration limits", () => {
  it("refuses a body that is not application/json", async () => {
    const response = await register({}, { headers: { "content-type": "text/plain" } });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ error: "invalid_client_metadata" });
  });

  it("refuses metadata over the size limit (1 MiB of it used to be stored)", async () => {
    const response = await register({ client_uri: `https://example.com/${"a".repeat(20_000)}` });
    expect(response.status).toBe(413);
  });

  it("refuses too many redirect URIs", async () => {
    const uris = Array.from({ length: REGISTRATION_LIMITS.listEntries + 1 }, (_, i) => `http://127.0.0.1:${1000 + i}/cb`);
    const response = await register({ redirect_uris: uris });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_client_metadata" });
  });

  it("refuses a client name longer than the consent page shows", async () => {
    const response = await register({ client_name: "n".repeat(REGISTRATION_LIMITS.clientName + 1) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error_description: string }).error_description).toContain("client_name");
  });

  it("refuses an over-long string in any field", async () => {
    const response = await register({ logo_uri: `https://example.com/${"l".repeat(REGISTRATION_LIMITS.text)}` });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error_description: string }).error_description).toContain("logo_uri");
  });

  it("refuses too many metadata fields", async () => {
    const extra = Object.fromEntries(Array.from({ length: REGISTRATION_LIMITS.fields }, (_, i) => [`x_${i}`, "v"]));
    const response = await register(extra);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_client_metadata" });
  });

  it("lets a registration expire after the configured number of unused days", async () => {
    const response = await register({}, {}, { REGISTRATION_UNUSED_DAYS: "3" });
    expect(response.status).toBe(201);
    const { client_id } = (await response.json()) as { client_id: string };
    const stored = await testEnv().OAUTH_KV.get<{ registrationExpiresAt: number }>(`client:${client_id}`, "json");
    const expected = Math.floor(Date.now() / 1000) + 3 * 86_400;
    expect(stored?.registrationExpiresAt).toBeGreaterThan(expected - 60);
    expect(stored?.registrationExpiresAt).toBeLessThanOrEqual(expected);
  });
});

describe("the redirect URIs a registration may name (s23 hunt fuzz L7)", () => {
  it("refuses plain HTTP to a host other than this computer, and schemes no app receives a sign-in at", async () => {
    for (const uri of [
      "http://evil.example/cb",
      "http://localhost.evil.example/cb",
      "http://10.0.0.5/cb",
      "ftp://a/cb",
      "about:blank",
      "urn:ietf:wg:oauth:2.0:oob",
      "wss://a.example/cb",
    ]) {
      const response = await register({ redirect_uris: [CLIENT_REDIRECT, uri] });
      expect(response.status, uri).toBe(400);
      expect(await response.json(), uri).toMatchObject({ error: "invalid_client_metadata" });
    }
  });

  it("takes https, loopback HTTP in every spelling, and a native app's own scheme", async () => {
    for (const uri of [
      "https://claude.ai/api/mcp/auth_callback",
      "http://127.0.0.1:33418/callback",
      "http://localhost:6274/oauth/callback",
      "http://[::1]:8080/cb",
      "http://0x7f.1/cb",
      "cursor://anysphere.cursor-mcp/oauth/callback",
    ]) {
      expect((await register({ redirect_uris: [uri] })).status, uri).toBe(201);
    }
  });
});
