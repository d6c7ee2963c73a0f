import {
  base64url,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  jwtVerify,
} from "jose";
import { describe, expect, it } from "vitest";
import { EDGE_ASSERTION_TYPE, EDGE_JWKS_PATH } from "../../contract/edge-assertion.ts";
import { edgeConfig } from "../../worker/config.ts";
import { signAssertion } from "../../worker/upstream/sign-assertion.ts";
import { callEdge, testEnv } from "./edge-env.ts";

/** 256 bits, base64url: a shared key's `k` (a fixed test value, nothing real). */
const SHARED_SECRET = "dGVzdC1vbmx5LXNoYXJlZC1rZXktb2YtMjU2LWJpdHM";

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

  it.each([
    [
      "a public EC key",
      { kty: "EC", crv: "P-256", kid: "a", x: "AA", y: "AA" },
      'must be a private EC P-256 JWK with "kid" and "d"',
    ],
    ["an RSA key", { kty: "RSA", kid: "a", n: "AA", e: "AQAB", d: "AA" }, 'must be a private EC P-256 JWK with "kid" and "d"'],
    ["a shared key without kid", { kty: "oct", k: SHARED_SECRET }, '"kty":"oct", "kid" and "k"'],
    ["a shared key shorter than 256 bits", { kty: "oct", kid: "a", k: "c2VjcmV0" }, "has 48 bits; HS256 needs at least 256"],
    ["a shared key marked for another algorithm", { kty: "oct", kid: "a", k: SHARED_SECRET, alg: "HS512" }, "is for HS512"],
  ])("refuses to sign with %s, saying what it expects", async (_what, jwk, message) => {
    const config = edgeConfig(testEnv({ EDGE_SIGNING_KEY: JSON.stringify(jwk) }));
    await expect(signAssertion(config, { sub: "user-1", client_id: "client-1" })).rejects.toThrow(message);
    expect((await callEdge(EDGE_JWKS_PATH, undefined, { EDGE_SIGNING_KEY: JSON.stringify(jwk) })).status).toBe(500);
  });

  it("signs with a shared key (HS256) that only the key itself verifies, and never publishes it", async () => {
    const shared = JSON.stringify({ kty: "oct", kid: "shared-1", k: SHARED_SECRET });
    const jwks = (await (await callEdge(EDGE_JWKS_PATH, undefined, { EDGE_SIGNING_KEY: shared })).json()) as JSONWebKeySet;
    expect(jwks).toEqual({ keys: [] });
    const config = edgeConfig(testEnv({ EDGE_SIGNING_KEY: shared }));
    const signed = await signAssertion(config, { sub: "user-1", client_id: "client-1", server: "everything" });
    expect(decodeProtectedHeader(signed)).toMatchObject({ alg: "HS256", kid: "shared-1", typ: EDGE_ASSERTION_TYPE });
    const { payload } = await jwtVerify(signed, base64url.decode(SHARED_SECRET), {
      issuer: config.publicUrl,
      audience: config.originUrl,
      algorithms: ["HS256"],
    });
    expect(payload).toMatchObject({ sub: "user-1", server: "everything" });
    const other = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
    await expect(jwtVerify(signed, base64url.decode(other))).rejects.toThrow("signature verification failed");
  });

  // s28 keys hunt F2: an unusable rotation key made the whole set answer 500, and every origin refused every request
  // once its copy of the set was ten minutes old. The signing key's entry is published all the same.
  it.each([
    ["a shared key, which would publish the secret", JSON.stringify({ kty: "oct", kid: "next", k: SHARED_SECRET })],
    ["npm's banner before the key (npm run keygen without --silent)", "> mcp-edge-proxy@0.1.0 keygen\n{}"],
    ["a key under the signing key's kid (s28 review R3: two keys for one kid)", "SAME_KID"],
  ])("leaves out an unusable rotation key (%s) and still publishes the signing key", async (_case, value) => {
    const alone = (await (await callEdge(EDGE_JWKS_PATH)).json()) as { keys: Record<string, string>[] };
    const other = await exportJWK((await generateKeyPair("ES256", { extractable: true })).publicKey);
    const sameKid = JSON.stringify({ ...other, kid: alone.keys[0]?.kid });
    const rotation = { EDGE_SIGNING_KEY_ROTATION: value === "SAME_KID" ? sameKid : value };
    const response = await callEdge(EDGE_JWKS_PATH, undefined, rotation);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(SHARED_SECRET);
    expect(JSON.parse(text)).toEqual(alone);
    expect(alone.keys).toHaveLength(1);
    const ready = await callEdge("/readyz", undefined, rotation);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("EDGE_SIGNING_KEY_ROTATION unusable");
  });

  it("answers 500 without detail when a required setting is missing, and names it only in the log", async () => {
    const response = await callEdge("/.well-known/oauth-authorization-server", undefined, { IDP_ISSUER: undefined });
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("misconfigured");
  });
});
