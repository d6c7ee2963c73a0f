import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createUpstreamIdentity } from "../../aws/origin/identity/upstream-identity.ts";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";

const ISSUER = "https://origin.example.test";
const AUDIENCE = "https://tickets.internal.example/mcp";
const USER = { sub: "user-1", email: "ada@example.com", groups: ["eng"] };

const identityWith = (signingKey: string) =>
  createUpstreamIdentity({ issuer: ISSUER, signingKey, ttlSeconds: 300, log: () => {} });
const keySet = (...keys: string[]) => JSON.stringify({ keys: keys.map((key) => JSON.parse(key)) });
const kidOf = (key: string) => (JSON.parse(key) as JWK).kid;

/** What an upstream does: verifies the token against the JWKS it fetched from the origin. */
const verifiedBy = (jwks: { keys: JWK[] }, token: string) =>
  jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: ISSUER, audience: AUDIENCE });

describe("the upstream identity key", () => {
  it("signs with the configured key and publishes its public half only", async () => {
    const key = await generateEdgeSigningKey();
    const identity = await identityWith(key);
    const token = await identity.tokenFor(USER, AUDIENCE);
    expect(decodeProtectedHeader(token).kid).toBe(kidOf(key));
    const { payload } = await verifiedBy(identity.jwks(), token);
    expect(payload).toMatchObject({ sub: "user-1", email: "ada@example.com", groups: ["eng"] });
    expect(identity.jwks().keys.map((jwk) => jwk.d)).toEqual([undefined]);
  });

  it("during a rotation signs with the set's first key and publishes every key's public half", async () => {
    const [current, next] = [await generateEdgeSigningKey(), await generateEdgeSigningKey()];
    const identity = await identityWith(keySet(current, next));
    const token = await identity.tokenFor(USER, AUDIENCE);
    expect(decodeProtectedHeader(token).kid).toBe(kidOf(current));
    expect(identity.jwks().keys.map((jwk) => jwk.kid)).toEqual([kidOf(current), kidOf(next)]);
    expect(identity.jwks().keys.some((jwk) => "d" in jwk)).toBe(false);
  });

  it("lets upstreams verify every token through a rotation's steps, whichever instance signed it", async () => {
    const [current, next] = [await generateEdgeSigningKey(), await generateEdgeSigningKey()];
    const before = await identityWith(current);
    const announced = await identityWith(keySet(current, next));
    const switched = await identityWith(keySet(next, current));
    const after = await identityWith(next);
    // An upstream holding the JWKS of one step verifies tokens of the step before and the step after it.
    const steps = [before, announced, switched, after];
    for (let step = 1; step < steps.length; step++) {
      const [older, newer] = [steps[step - 1], steps[step]] as [typeof before, typeof before];
      await expect(verifiedBy(older.jwks(), await newer.tokenFor(USER, AUDIENCE))).resolves.toBeDefined();
      await expect(verifiedBy(newer.jwks(), await older.tokenFor(USER, AUDIENCE))).resolves.toBeDefined();
    }
    // Skipping the announcement is what the set is for: the old JWKS does not know the new key.
    await expect(verifiedBy(before.jwks(), await after.tokenFor(USER, AUDIENCE))).rejects.toThrow();
  });

  it.each([
    ["not JSON", () => "not-json", /is not JSON/],
    ["JSON null", () => "null", /must be a private EC P-256 JWK/],
    ["a JSON string", () => JSON.stringify("a key"), /must be a private EC P-256 JWK/],
    [
      "a set whose second key is off the curve",
      async () => {
        const broken = { ...JSON.parse(await generateEdgeSigningKey()), x: JSON.parse(await generateEdgeSigningKey()).x };
        return keySet(await generateEdgeSigningKey(), JSON.stringify(broken));
      },
      /is not a usable P-256 key/,
    ],
    ["an empty set", () => JSON.stringify({ keys: [] }), /must be a private EC P-256 JWK/],
    ["a public key", async () => JSON.stringify(publicOf(await generateEdgeSigningKey())), /must be a private/],
    [
      "a set with a public key",
      async () => keySet(await generateEdgeSigningKey(), JSON.stringify(publicOf(await generateEdgeSigningKey()))),
      /every key of a set is a private key too/,
    ],
    ["a key without kid", async () => JSON.stringify({ ...JSON.parse(await generateEdgeSigningKey()), kid: undefined }), /"kid"/],
    ["a P-384 key", async () => p384Key(), /must be a private EC P-256 JWK/],
    [
      "a set with one kid twice",
      async () => {
        const key = await generateEdgeSigningKey();
        const other = JSON.stringify({ ...JSON.parse(await generateEdgeSigningKey()), kid: kidOf(key) });
        return keySet(key, other);
      },
      /two keys with one kid/,
    ],
  ])("is refused at start when it is %s", async (_, configured, message) => {
    await expect(identityWith(await configured())).rejects.toThrow(message);
  });
});

function publicOf(key: string): JWK {
  const { d: _private, ...publicJwk } = JSON.parse(key) as JWK;
  return publicJwk;
}

async function p384Key(): Promise<string> {
  const { privateKey } = await generateKeyPair("ES384", { extractable: true });
  return JSON.stringify({ ...(await exportJWK(privateKey)), kid: "p384" });
}
