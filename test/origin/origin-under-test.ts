import { type CryptoKey, createLocalJWKSet, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { createOriginApp, type OriginParts } from "../../aws/origin/app.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { createBoundReplayGuard } from "../../aws/origin/trust/bound-replay-guard.ts";
import type { EdgeKeys } from "../../aws/origin/trust/jwks.ts";
import { createReplayGuard } from "../../aws/origin/trust/replay-guard.ts";
import { sharedEdgeKeys } from "../../aws/origin/trust/shared-keys.ts";
import { createAssertionVerifier } from "../../aws/origin/trust/verify-assertion.ts";
import { DEFAULT_LISTENS_PER_USER, OriginConfig } from "../../contract/config/schema.ts";
import { EDGE_ASSERTION_HEADER, EDGE_ASSERTION_TYPE } from "../../contract/edge-assertion.ts";
import { parseSharedKey } from "../../contract/edge-shared-key.ts";
import { freePort } from "../../local/free-port.ts";
import { generateSharedEdgeKey } from "../../scripts/keygen.ts";
import type { TestDatabase } from "./database.ts";
import { testHostOptions } from "./modern-request.ts";

// The origin app as the route tests call it (in process, through `app.request`), and the edge key whose assertions
// it accepts: one set-up for every origin test, so that each test file shows only what its routes need.

export const TEST_EDGE = "https://edge.example.test";
export const TEST_ORIGIN = "https://origin.example.test";
/** The instance name of the origin under test: assertions bound to it (`instance`) are claimed in its memory. */
export const TEST_INSTANCE = "origin-test";
export const TEST_KID = "edge-key-1";

/** An assertion as the edge would sign it, with any of these parts changed (for the refusals' tests). */
export interface AssertionShape {
  /** Another key signs (with `alg` for another algorithm): what an attacker might try. */
  key?: CryptoKey | Uint8Array;
  alg?: string;
  typ?: string;
  kid?: string;
  iss?: string;
  aud?: string;
  /** `null` leaves the jti out. */
  jti?: string | null;
  iat?: number;
  exp?: number;
  /** More protected-header members; a `crit` list among them is declared understood by the signer. */
  header?: Record<string, unknown>;
}

/** The edge's signing key in a test: the keys the origin verifies with, and a signer of assertions. */
export interface TestEdgeKey {
  /** What an assertion verifier reads: the edge's published EC key, or the key it shares with the origin. */
  keys: EdgeKeys;
  /** Signs these claims as the edge would (lifetime 60 s, a fresh jti), with any part of `shape` changed. */
  sign(claims: Record<string, unknown>, shape?: AssertionShape): Promise<string>;
}

/** How the edge in a test signs: with an EC key whose public half it publishes (the default), or a shared HMAC key. */
export type TestEdgeKind = "ec" | "shared";

export async function testEdgeKey(kind: TestEdgeKind = "ec"): Promise<TestEdgeKey> {
  if (kind === "shared") {
    // What `npm run keygen -- --hmac` prints, under the test's kid.
    const jwk = { ...JSON.parse(generateSharedEdgeKey()), kid: TEST_KID };
    return { keys: sharedEdgeKeys(JSON.stringify(jwk)), sign: signer("HS256", parseSharedKey(jwk).secret) };
  }
  const pair = await generateKeyPair("ES256", { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: TEST_KID, alg: "ES256" };
  return {
    keys: { algorithm: "ES256", getKey: createLocalJWKSet({ keys: [publicJwk] }) },
    sign: signer("ES256", pair.privateKey),
  };
}

/** Signs assertions as the edge would, with this key (see `TestEdgeKey.sign`). */
export function signer(alg: string, key: CryptoKey | Uint8Array): TestEdgeKey["sign"] {
  return (claims, shape = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: shape.alg ?? alg, typ: shape.typ ?? EDGE_ASSERTION_TYPE, kid: shape.kid ?? TEST_KID };
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ ...header, ...shape.header })
      .setIssuer(shape.iss ?? TEST_EDGE)
      .setAudience(shape.aud ?? TEST_ORIGIN)
      .setIssuedAt(shape.iat ?? now)
      .setExpirationTime(shape.exp ?? now + 60);
    if (shape.jti !== null) jwt.setJti(shape.jti ?? crypto.randomUUID());
    const crit = shape.header?.crit;
    const understood = Array.isArray(crit) ? Object.fromEntries(crit.map((name) => [String(name), true])) : undefined;
    return jwt.sign(shape.key ?? key, understood && { crit: understood });
  };
}

export interface OriginUnderTestOptions {
  /**
   * Unbound assertions' jtis are claimed in this database, and the audit goes to it. Absent: they are claimed in
   * memory and the audit store takes nothing.
   */
  database?: TestDatabase;
  /** Parts replacing the defaults (no servers, no policy, no metrics). */
  parts?: Partial<OriginParts>;
  /** How the edge signs (default: an EC key). */
  edge?: TestEdgeKind;
}

export interface OriginUnderTest {
  app: ReturnType<typeof createOriginApp>;
  edge: TestEdgeKey;
  /** Calls `path` with an assertion of these claims in the edge's header. */
  call(path: string, init: RequestInit, claims: Record<string, unknown>): Promise<Response>;
}

export async function originUnderTest(options: OriginUnderTestOptions = {}): Promise<OriginUnderTest> {
  const edge = await testEdgeKey(options.edge);
  const app = createOriginApp({ ...testOriginParts(edge, options.database), ...options.parts });
  return {
    app,
    edge,
    async call(path, init, claims) {
      const headers = new Headers(init.headers);
      headers.set(EDGE_ASSERTION_HEADER, await edge.sign(claims));
      return app.request(path, { ...init, headers });
    },
  };
}

/**
 * The parts of an origin that accepts `edge`'s assertions and serves no servers; with a database, unbound jtis are
 * claimed and audit events stored in it. For tests that build several apps around one edge key.
 */
export function testOriginParts(edge: TestEdgeKey, database?: Pick<TestDatabase, "pool">): OriginParts {
  const inMemory = createBoundReplayGuard();
  return {
    verifyAssertion: createAssertionVerifier({
      issuer: TEST_EDGE,
      audience: TEST_ORIGIN,
      keys: edge.keys,
      claimJti: database ? createReplayGuard(database.pool).claim : async (jti, expiresAt) => inMemory.claim(jti, expiresAt),
      bound: { instance: TEST_INSTANCE, claimJti: createBoundReplayGuard().claim },
    }),
    pool: createHostPool({ servers: {}, idleTimeoutMs: 60_000, maxProcesses: 1, host: testHostOptions, log: () => {} }),
    upstreamJwks: () => ({ keys: [] }),
    instanceId: TEST_INSTANCE,
    auditStore: database ? createAuditStore(database.pool) : noAuditDatabase,
    auditDatabase: database?.pool,
    checkDatabase: database ? async () => void (await database.pool.query("select 1")) : async () => {},
    listensPerUser: DEFAULT_LISTENS_PER_USER,
  };
}

/** The least configuration `startOrigin` runs with: a free port, the test database, and `extra` on top. */
export async function testOriginConfig(database: TestDatabase, extra: Record<string, unknown> = {}): Promise<OriginConfig> {
  const port = await freePort();
  return OriginConfig.parse({
    port,
    publicUrl: `http://127.0.0.1:${port}`,
    edgeIssuer: "http://127.0.0.1:9",
    databaseUrl: database.url,
    databasePoolMax: database.poolMax,
    ...extra,
  });
}

/** An origin without a database: events are dropped, and nothing that needs a transaction is registered. */
const noAuditDatabase: OriginParts["auditStore"] = {
  insert: async () => ({ inserted: 0 }),
  insertWith: () => Promise.reject(new Error("this test origin has no database")),
};
