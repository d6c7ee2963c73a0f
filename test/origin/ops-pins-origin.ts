import { type CryptoKey, createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createOriginApp, type OriginParts } from "../../aws/origin/app.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { createReplayGuard } from "../../aws/origin/trust/replay-guard.ts";
import { createAssertionVerifier } from "../../aws/origin/trust/verify-assertion.ts";
import { EDGE_ASSERTION_HEADER, EDGE_ASSERTION_TYPE } from "../../contract/edge-assertion.ts";
import type { TestDatabase } from "./database.ts";
import { testHostOptions } from "./modern-request.ts";

// The origin app on a real database, as the ops routes' tests (pins and dry run) call it, with a signer of edge
// assertions whose claims each test chooses.
const EDGE = "https://edge.example.test";
const ORIGIN = "https://origin.example.test";
const KID = "edge-key-1";

export const ADMIN_EMAIL = "admin@example.com";

export interface OpsOrigin {
  app: ReturnType<typeof createOriginApp>;
  /** Calls `path` with an assertion of these claims (an ops assertion naming the administrator by default). */
  call(path: string, init?: RequestInit, claims?: Record<string, unknown>): Promise<Response>;
}

export async function opsOrigin(database: TestDatabase, extra: Partial<OriginParts> = {}): Promise<OpsOrigin> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const edgeKey: CryptoKey = pair.privateKey;
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: "ES256" };
  const app = createOriginApp({
    verifyAssertion: createAssertionVerifier({
      issuer: EDGE,
      audience: ORIGIN,
      keys: createLocalJWKSet({ keys: [publicJwk] }),
      claimJti: createReplayGuard(database.pool).claim,
    }),
    pool: createHostPool({ servers: {}, idleTimeoutMs: 60_000, maxProcesses: 1, host: testHostOptions, log: () => {} }),
    upstreamJwks: () => ({ keys: [] }),
    instanceId: "origin-test",
    auditStore: createAuditStore(database.pool),
    auditDatabase: database.pool,
    checkDatabase: async () => void (await database.pool.query("select 1")),
    ...extra,
  });
  const sign = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", typ: EDGE_ASSERTION_TYPE, kid: KID })
      .setIssuer(EDGE)
      .setAudience(ORIGIN)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(edgeKey);
  };
  const adminClaims = { sub: "admin-1", email: ADMIN_EMAIL, client_id: "ops-dashboard", purpose: "ops" };
  return {
    app,
    async call(path, init = {}, claims = adminClaims) {
      const headers = new Headers(init.headers);
      headers.set(EDGE_ASSERTION_HEADER, await sign(claims));
      return app.request(path, { ...init, headers });
    },
  };
}

/** A JSON POST. */
export const postJson = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
