import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, type JSONWebKeySet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { EDGE_ASSERTION_TYPE, EDGE_JWKS_PATH } from "../../contract/edge-assertion.ts";
import { edgeConfig } from "../../worker/config.ts";
import { signAssertion } from "../../worker/upstream/sign-assertion.ts";
import { callEdge, testEnv } from "./edge-env.ts";

describe("edge assertions", () => {
  it("publishes only the public half of the signing key", async () => {
    const response = await callEdge(EDGE_JWKS_PATH);
    const jwks = (await response.json()) as JSONWebKeySet;
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
  });

  it("signs short-lived, single-use assertions the published key verifies", async () => {
    const config = edgeConfig(testEnv());
    const jwks = (await (await callEdge(EDGE_JWKS_PATH)).json()) as JSONWebKeySet;
    const claims = { sub: "user-1", client_id: "client-1", server: "everything", groups: ["eng"] };
    const [first, second] = await Promise.all([signAssertion(config, claims), signAssertion(config, claims)]);
    const { payload } = await jwtVerify(first, createLocalJWKSet(jwks), {
      issuer: config.publicUrl,
      audience: config.originUrl,
      typ: EDGE_ASSERTION_TYPE,
      algorithms: ["ES256"],
    });
    expect(payload).toMatchObject(claims);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(60);
    expect(decodeProtectedHeader(first).kid).toBe(jwks.keys[0]?.kid);
    const { payload: other } = await jwtVerify(second, createLocalJWKSet(jwks));
    expect(other.jti).not.toBe(payload.jti);
  });

  it("publishes the rotation key beside the signing key (public half only), so a rotation refuses nothing", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const next = JSON.stringify({ ...(await exportJWK(privateKey)), kid: "next-key" });
    const response = await callEdge(EDGE_JWKS_PATH, undefined, { EDGE_SIGNING_KEY_ROTATION: next });
    const jwks = (await response.json()) as JSONWebKeySet;
    expect(jwks.keys.map((key) => key.kid)).toEqual([expect.any(String), JSON.parse(next).kid]);
    for (const key of jwks.keys) expect(key).not.toHaveProperty("d");
    // An assertion signed with the rotation key verifies against what the origin fetched before the switch.
    const config = edgeConfig(testEnv({ EDGE_SIGNING_KEY: next }));
    const signed = await signAssertion(config, { sub: "user-1", client_id: "client-1", server: "everything" });
    await expect(jwtVerify(signed, createLocalJWKSet(jwks))).resolves.toBeTruthy();
  });

  it("refuses to start with a signing key that is not a private P-256 key, saying what it expects", async () => {
    const response = await callEdge(EDGE_JWKS_PATH, undefined, {
      EDGE_SIGNING_KEY: JSON.stringify({ kty: "oct", k: "c2VjcmV0" }),
    });
    expect(response.status).toBe(500);
  });

  it("answers 500 without detail when a required setting is missing, and names it only in the log", async () => {
    const response = await callEdge("/.well-known/oauth-authorization-server", undefined, { IDP_ISSUER: undefined });
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("misconfigured");
  });
});
