import type { OAuthResourceTokenValidation } from "@cloudflare/workers-oauth-provider";
import { beforeEach, describe, expect, it } from "vitest";
import { edgeOAuth } from "../../worker/auth/authorization-server.ts";
import { cacheValidations, forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { edgeConfig } from "../../worker/config.ts";
import { testEnv } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import { authorizationCode, exchangeCode, mcpStatus, registerClient, signedInTokens, type Tokens } from "./sign-in.ts";

const RESOURCE = "http://localhost:8787/mcp/everything";

/** A validator that counts its look-ups and accepts the tokens it was given, with their expiry. */
function countingValidator(valid: Record<string, number | undefined>) {
  const calls: string[] = [];
  const validate = async (resource: string, token: string): Promise<OAuthResourceTokenValidation<{ sub: string }> | null> => {
    calls.push(`${resource} ${token}`);
    return token in valid ? { props: { sub: token }, audience: resource, expiresAt: valid[token] } : null;
  };
  return { calls, validate };
}

describe("the per-isolate cache of validated tokens", () => {
  let clock = 1_000_000_000_000;
  const now = () => clock;
  beforeEach(() => {
    forgetValidatedTokens();
    clock = 1_000_000_000_000;
  });

  it("looks a token up once within the window, and again after it", async () => {
    const { calls, validate } = countingValidator({ good: undefined });
    const cached = cacheValidations(validate, 30, now);
    expect((await cached(RESOURCE, "good"))?.props).toEqual({ sub: "good" });
    expect((await cached(RESOURCE, "good"))?.props).toEqual({ sub: "good" });
    expect(calls).toHaveLength(1);
    clock += 30_001;
    await cached(RESOURCE, "good");
    expect(calls).toHaveLength(2);
  });

  it("never reuses a validation past the token's own expiry", async () => {
    const expiresAt = clock / 1000 + 5;
    const { calls, validate } = countingValidator({ short: expiresAt });
    const cached = cacheValidations(validate, 30, now);
    await cached(RESOURCE, "short");
    clock += 5_001;
    await cached(RESOURCE, "short");
    expect(calls).toHaveLength(2);
  });

  it("keeps each resource apart: a token validated for one resource is looked up again for another", async () => {
    const { calls, validate } = countingValidator({ good: undefined });
    const cached = cacheValidations(validate, 30, now);
    await cached(RESOURCE, "good");
    await cached("http://localhost:8787/mcp/other", "good");
    expect(calls).toEqual([`${RESOURCE} good`, "http://localhost:8787/mcp/other good"]);
  });

  it("does not remember a refusal", async () => {
    const { calls, validate } = countingValidator({});
    const cached = cacheValidations(validate, 30, now);
    expect(await cached(RESOURCE, "bad")).toBeNull();
    expect(await cached(RESOURCE, "bad")).toBeNull();
    expect(calls).toHaveLength(2);
  });

  it("is off with a window of 0, and forgets everything when told to", async () => {
    const { calls, validate } = countingValidator({ good: undefined });
    const off = cacheValidations(validate, 0, now);
    await off(RESOURCE, "good");
    await off(RESOURCE, "good");
    expect(calls).toHaveLength(2);
    const cached = cacheValidations(validate, 30, now);
    await cached(RESOURCE, "good");
    forgetValidatedTokens();
    await cached(RESOURCE, "good");
    expect(calls).toHaveLength(4);
  });

  it("does not remember a validation that was under way when this isolate revoked", async () => {
    const { calls, validate } = countingValidator({ good: undefined });
    let lookedUp!: () => void;
    const grantRead = new Promise<void>((resolve) => {
      lookedUp = resolve;
    });
    let revoked!: () => void;
    const revocation = new Promise<void>((resolve) => {
      revoked = resolve;
    });
    // The first look-up reads the grant, then the isolate revokes it, then the look-up returns what it read.
    const slow = async (resource: string, token: string) => {
      const validation = await validate(resource, token);
      if (calls.length === 1) {
        lookedUp();
        await revocation;
      }
      return validation;
    };
    const cached = cacheValidations(slow, 30, now);
    const underWay = cached(RESOURCE, "good");
    await grantRead;
    forgetValidatedTokens();
    revoked();
    await underWay;
    await cached(RESOURCE, "good");
    expect(calls).toHaveLength(2);
  });
});

describe("revocation with the token cache (the documented window)", () => {
  const mcpStatusWith = (token: string, envOverrides: Record<string, unknown>) => mcpStatus(token, "everything", envOverrides);
  beforeEach(() => forgetValidatedTokens());

  it("a grant revoked where this isolate does not see it stops working within tokenCacheSeconds", async () => {
    const window = { TOKEN_CACHE_SECONDS: "1" };
    const tokens = await signedInTokens(await registerClient());
    // Authorized (the origin is not running in this project, hence 503 rather than 200).
    expect(await mcpStatusWith(tokens.access_token, window)).toBe(503);
    // Revoked straight in storage, as another isolate's revocation would be: this isolate still has it cached.
    const oauth = edgeOAuth(edgeConfig(testEnv(window))).authorizationServer.getOAuthApi(testEnv(window));
    const [userId, grantId] = tokens.access_token.split(":");
    await oauth.revokeGrant(grantId as string, userId as string);
    expect(await mcpStatusWith(tokens.access_token, window)).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await mcpStatusWith(tokens.access_token, window)).toBe(401);
  });

  it("a replayed authorization code revokes its grant, and the tokens it gave stop working here at once", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const code = await authorizationCode(clientId, pkce.challenge);
    const first = await exchangeCode(clientId, code, pkce.verifier);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as Tokens;
    expect(await mcpStatus(tokens.access_token)).toBe(503); // validated, so remembered for tokenCacheSeconds (30)
    const replay = await exchangeCode(clientId, code, pkce.verifier);
    expect(replay.status).toBe(400);
    expect(await mcpStatus(tokens.access_token)).toBe(401);
  });

  it("with tokenCacheSeconds 0, a revocation in storage takes effect on the next request", async () => {
    const off = { TOKEN_CACHE_SECONDS: "0" };
    const tokens = await signedInTokens(await registerClient());
    expect(await mcpStatusWith(tokens.access_token, off)).toBe(503);
    const oauth = edgeOAuth(edgeConfig(testEnv(off))).authorizationServer.getOAuthApi(testEnv(off));
    const [userId, grantId] = tokens.access_token.split(":");
    await oauth.revokeGrant(grantId as string, userId as string);
    expect(await mcpStatusWith(tokens.access_token, off)).toBe(401);
  });
});
