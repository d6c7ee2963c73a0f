import { describe, expect, it, vi } from "vitest";
import { callEdge } from "./edge-env.ts";

describe("health probes", () => {
  it("/healthz answers while the Worker runs", async () => {
    const response = await callEdge("/healthz");
    expect(response.status).toBe(200);
  });

  it("/readyz says the origin is unreachable when it is", async () => {
    const response = await callEdge("/readyz", undefined, { ORIGIN_URL: "http://127.0.0.1:9" });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      status: "not ready",
      config: "ok",
      origin: expect.stringMatching(/^unreachable/),
    });
  });

  it("/readyz names a signing key that does not import, without showing it", async () => {
    const broken = JSON.stringify({ kty: "EC", crv: "P-256", kid: "k1", d: "AAAA", x: "AAAA", y: "AAAA" });
    const response = await callEdge("/readyz", undefined, { EDGE_SIGNING_KEY: broken, ORIGIN_URL: "http://127.0.0.1:9" });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ status: "not ready", config: "EDGE_SIGNING_KEY unusable (see the Worker's logs)" });
    expect(body).not.toContain("AAAA");
  });

  it("/readyz names a rotation key the key set cannot publish (a shared key)", async () => {
    const shared = JSON.stringify({ kty: "oct", kid: "r1", k: "q".repeat(43) });
    const response = await callEdge("/readyz", undefined, {
      EDGE_SIGNING_KEY_ROTATION: shared,
      ORIGIN_URL: "http://127.0.0.1:9",
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ config: "EDGE_SIGNING_KEY_ROTATION unusable (see the Worker's logs)" });
  });

  it("the key set names a rotation key it cannot publish in the Worker's log, and leaves it out", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const shared = JSON.stringify({ kty: "oct", kid: "r1", k: "q".repeat(43) });
      const response = await callEdge("/.well-known/edge-jwks.json", undefined, { EDGE_SIGNING_KEY_ROTATION: shared });
      expect(response.status).toBe(200);
      expect(await response.text()).not.toContain("r1");
      const log = logged.mock.calls.map(String).join("\n");
      expect(log).toContain(
        "edge key set: EDGE_SIGNING_KEY_ROTATION left out, unusable: EDGE_SIGNING_KEY_ROTATION publishes an EC key; a shared key is never published",
      );
      expect(log).not.toContain("q".repeat(43));
      expect(log).not.toContain("unhandled error");
    } finally {
      logged.mockRestore();
    }
  });

  // s29 skew hunt F1: accepted (and matching nothing) before 7d9a118; the edge serves, /readyz names them.
  it("/readyz names allowed origins that name no host, and the edge still serves", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const env = { MCP_ALLOWED_ORIGINS: "*.example.com,tools.example.com", ORIGIN_URL: "http://127.0.0.1:9" };
      const response = await callEdge("/readyz", undefined, env);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        status: "not ready",
        config: "MCP_ALLOWED_ORIGINS names no host (see the Worker's logs)",
      });
      expect(logged.mock.calls.map(String).join("\n")).toContain(
        'readyz: MCP_ALLOWED_ORIGINS: "*.example.com" name no host, so they allow no page (list each host, such as app.example.com: no wildcards)',
      );
      expect((await callEdge("/.well-known/oauth-authorization-server", undefined, env)).status).toBe(200);
    } finally {
      logged.mockRestore();
    }
  });

  it("/readyz logs what is wrong with the configuration, and where a Worker's setting is set", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect((await callEdge("/readyz", undefined, { IDP_ISSUER: "" })).status).toBe(503);
      expect(logged.mock.calls.map(String).join("\n")).toContain(
        "idp.issuer (from defaults; set environment IDP_ISSUER in the Worker's [vars] (wrangler.toml) or as a secret (wrangler secret put))",
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("/readyz says the configuration is invalid without showing any value", async () => {
    const response = await callEdge("/readyz", undefined, { PUBLIC_URL: "not a url" });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain("invalid");
    expect(body).not.toContain("not a url");
  });
});
