import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { domainRefusal } from "../../worker/auth/domain-policy.ts";
import { discoverProvider } from "../../worker/auth/idp/discovery.ts";
import { verifyIdToken } from "../../worker/auth/idp/verify-id-token.ts";
import { edgeConfig } from "../../worker/config.ts";
import { testEnv } from "./edge-env.ts";

const ISSUER = "https://idp.example.test";
const config = () => ({ ...edgeConfig(testEnv()), idp: { ...edgeConfig(testEnv()).idp, issuer: ISSUER } });

let keys: ReturnType<typeof createLocalJWKSet>;
let idpKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  idpKey = pair.privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: "idp-1", alg: "RS256" };
  keys = createLocalJWKSet({ keys: [jwk] });
});

async function idToken(
  overrides: {
    iss?: string;
    aud?: string | string[];
    nonce?: string;
    exp?: number;
    iat?: number;
    sub?: string;
    key?: CryptoKey;
    claims?: object;
  } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    nonce: overrides.nonce ?? "n-1",
    email: "dev@example.com",
    email_verified: true,
    hd: "example.com",
    ...overrides.claims,
  })
    .setProtectedHeader({ alg: "RS256", kid: "idp-1" })
    .setIssuer(overrides.iss ?? ISSUER)
    .setAudience(overrides.aud ?? "edge-test-client")
    .setSubject(overrides.sub ?? "user-1")
    .setIssuedAt(overrides.iat ?? now)
    .setExpirationTime(overrides.exp ?? now + 300)
    .sign(overrides.key ?? idpKey);
}

describe("id_token verification at the callback", () => {
  it("accepts a token of the IdP, for this client, with this sign-in's nonce", async () => {
    const user = await verifyIdToken(config(), keys, await idToken(), "n-1");
    expect(user).toMatchObject({ sub: "user-1", email: "dev@example.com", hostedDomain: "example.com" });
  });

  it.each([
    ["marked unverified", { email_verified: false }],
    ["not marked verified", { email_verified: undefined }],
    ["marked verified as a string", { email_verified: "true" }],
  ])("keeps no e-mail address the provider has %s (no rule, upstream or audit may read a claimed one)", async (_case, claims) => {
    const user = await verifyIdToken(config(), keys, await idToken({ claims: { email: "boss@example.com", ...claims } }), "n-1");
    expect(user.sub).toBe("user-1");
    expect(user.email).toBeUndefined();
  });

  it("refuses another sign-in's nonce", async () => {
    await expect(verifyIdToken(config(), keys, await idToken({ nonce: "n-2" }), "n-1")).rejects.toThrow(/nonce/);
  });

  it("refuses a token for another client", async () => {
    await expect(verifyIdToken(config(), keys, await idToken({ aud: "someone-else" }), "n-1")).rejects.toThrow(/aud/);
  });

  it("refuses a token from another issuer", async () => {
    await expect(verifyIdToken(config(), keys, await idToken({ iss: "https://evil.example.test" }), "n-1")).rejects.toThrow(
      /iss/,
    );
  });

  it("refuses an expired token", async () => {
    const longAgo = Math.floor(Date.now() / 1000) - 3600;
    await expect(verifyIdToken(config(), keys, await idToken({ exp: longAgo }), "n-1")).rejects.toThrow(/exp/);
  });

  it("refuses a token issued an hour in the future, and accepts one within the clock skew", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verifyIdToken(config(), keys, await idToken({ iat: now + 3600, exp: now + 7200 }), "n-1")).rejects.toThrow(
      /iat/,
    );
    await expect(verifyIdToken(config(), keys, await idToken({ iat: now + 30 }), "n-1")).resolves.toMatchObject({
      sub: "user-1",
    });
  });

  it("accepts any sub of up to 255 characters, colons included, and refuses a longer one by name", async () => {
    const user = await verifyIdToken(config(), keys, await idToken({ sub: "tenant:42:user" }), "n-1");
    expect(user.sub).toBe("tenant:42:user");
    await expect(verifyIdToken(config(), keys, await idToken({ sub: "x".repeat(256) }), "n-1")).rejects.toThrow(/sub/);
  });

  it("refuses a token signed by another key", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    await expect(verifyIdToken(config(), keys, await idToken({ key: privateKey }), "n-1")).rejects.toThrow(/signature/);
  });

  it("refuses a token with several audiences whose azp is not this client", async () => {
    const token = await idToken({ aud: ["edge-test-client", "other"], claims: { azp: "other" } });
    await expect(verifyIdToken(config(), keys, token, "n-1")).rejects.toThrow(/azp/);
  });
});

describe("allowed domains", () => {
  const withDomains = (issuer: string) => ({ ...config(), idp: { ...config().idp, issuer, allowedDomains: ["example.com"] } });
  const user = (fields: object) => ({ sub: "u", groups: [], ...fields });

  it("lets anyone in when no domain is configured", () => {
    expect(domainRefusal(config(), user({ email: "x@anywhere.example" }))).toBeNull();
  });

  it("admits a Workspace account of an allowed domain", () => {
    expect(domainRefusal(withDomains("https://accounts.google.com"), user({ hostedDomain: "example.com" }))).toBeNull();
  });

  it("refuses a Workspace account of another domain", () => {
    expect(domainRefusal(withDomains("https://accounts.google.com"), user({ hostedDomain: "other.example" }))).toMatch(
      /other.example/,
    );
  });

  it("refuses a Google account without a Workspace domain, even with an address on the allowed domain", () => {
    expect(domainRefusal(withDomains("https://accounts.google.com"), user({ email: "x@example.com" }))).toMatch(/Workspace/);
  });

  it("refuses a user without a verified address at another provider", () => {
    expect(domainRefusal(withDomains(ISSUER), user({}))).toMatch(/vouch/);
  });

  it("refuses a verified address of another domain at another provider", () => {
    expect(domainRefusal(withDomains(ISSUER), user({ email: "guest@other.example" }))).toMatch(/other.example/);
  });

  it("judges another provider's user by their verified address, never by an hd claim (it means nothing there)", () => {
    const claimsAllowed = user({ hostedDomain: "example.com", email: "x@other.example" });
    expect(domainRefusal(withDomains(ISSUER), claimsAllowed)).toMatch(/other.example/);
    expect(domainRefusal(withDomains(ISSUER), user({ hostedDomain: "other.example", email: "x@example.com" }))).toBeNull();
  });

  it("judges an address by the domain after its last @, not by an allowed domain quoted in its local part", () => {
    expect(domainRefusal(withDomains(ISSUER), user({ email: '"x@example.com"@evil.example' }))).toMatch(/evil.example/);
    expect(domainRefusal(withDomains(ISSUER), user({ email: "x@EXAMPLE.com" }))).toBeNull();
  });
});

describe("an identity provider that hangs", () => {
  it("is given up on after the configured timeout, with an error that says so", async () => {
    const started = Date.now();
    await expect(discoverProvider(inject("silentUrl"), 500)).rejects.toThrow(/timed? ?out|abort/i);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
