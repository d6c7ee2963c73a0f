import { createLocalJWKSet, errors, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp } from "../../aws/origin/app.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { sharedEdgeKeys } from "../../aws/origin/trust/shared-keys.ts";
import { createAssertionVerifier } from "../../aws/origin/trust/verify-assertion.ts";
import { AUDIT_INGEST_PATH, type AuditEvent } from "../../contract/audit-event.ts";
import { EDGE_ASSERTION_HEADER, EDGE_ASSERTION_TYPE } from "../../contract/edge-assertion.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import {
  type AssertionShape,
  type OriginUnderTest,
  originUnderTest,
  TEST_EDGE,
  TEST_ORIGIN,
  type TestEdgeKind,
  testOriginParts,
} from "./origin-under-test.ts";

let database: TestDatabase;
let origin: OriginUnderTest;

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
});
afterAll(async () => {
  await database?.close();
});

/** An assertion as the edge would sign it, with any one part changed. */
function assertion(shape: AssertionShape & { claims?: Record<string, unknown> } = {}): Promise<string> {
  // The audit ingest takes only the edge's delivery assertions; MCP routes only MCP ones (those naming a server).
  const purpose = shape.claims && "server" in shape.claims ? "mcp" : "audit-delivery";
  return origin.edge.sign({ sub: "user-1", client_id: "client-1", purpose, ...shape.claims }, shape);
}

const auditEvent = (): AuditEvent => ({
  id: crypto.randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 3,
});

async function postAudit(token: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers = new Headers({ "content-type": "application/json" });
  if (token !== undefined) headers.set(EDGE_ASSERTION_HEADER, token);
  const response = await origin.app.request(AUDIT_INGEST_PATH, {
    method: "POST",
    headers,
    body: JSON.stringify({ events: [auditEvent()] }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** For each kind of edge key: a key of the other kind, with its algorithm (what an attacker might sign with). */
const OTHER_KIND = {
  ec: async () => ({ alg: "HS256", key: new TextEncoder().encode("a-shared-secret-of-sufficient-length!!") }),
  shared: async () => ({ alg: "ES256", key: (await generateKeyPair("ES256")).privateKey }),
} satisfies Record<TestEdgeKind, () => Promise<AssertionShape>>;

/** For each kind of edge key: another key of the same kind, which the origin does not trust. */
const STRANGER = {
  ec: async () => (await generateKeyPair("ES256")).privateKey,
  shared: async () => crypto.getRandomValues(new Uint8Array(32)),
} satisfies Record<TestEdgeKind, () => Promise<AssertionShape["key"]>>;

// Every rule holds whichever kind of key the edge signs with.
describe.each(["ec", "shared"] as const)("the origin's edge-assertion gate (%s edge key)", (kind) => {
  beforeAll(async () => {
    origin = await originUnderTest({ database, edge: kind });
  });

  it("accepts a valid assertion", async () => {
    expect(await postAudit(await assertion())).toEqual({ status: 200, body: { inserted: 1 } });
  });

  it("refuses a request without an assertion", async () => {
    expect(await postAudit(undefined)).toEqual({ status: 401, body: { error: "invalid_edge_assertion", reason: "missing" } });
  });

  it("refuses an expired assertion", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { status, body } = await postAudit(await assertion({ iat: now - 300, exp: now - 120 }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "expired" });
  });

  it("refuses an assertion minted long ago even if its exp is far away", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { status, body } = await postAudit(await assertion({ iat: now - 3600, exp: now + 3600 }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "expired" });
  });

  it("refuses an assertion issued in the future beyond the allowed clock skew", async () => {
    const now = Math.floor(Date.now() / 1000);
    const { status, body } = await postAudit(await assertion({ iat: now + 600, exp: now + 660 }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "expired" });
  });

  it("refuses an assertion not valid yet (nbf beyond the allowed clock skew)", async () => {
    const { status, body } = await postAudit(await assertion({ claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "expired" });
  });

  it("refuses an assertion whose claims were changed after signing", async () => {
    const [header, payload, signature] = (await assertion()).split(".");
    const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString());
    const changed = Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url");
    const { status, body } = await postAudit(`${header}.${changed}.${signature}`);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "signature" });
  });

  it("refuses an assertion without a jti (single use could not be enforced)", async () => {
    const token = await assertion({ jti: null });
    const { status, body } = await postAudit(token);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "claims" });
  });

  it("refuses an assertion with a critical header extension it does not know", async () => {
    const token = await assertion({ header: { crit: ["x-unknown"], "x-unknown": 1 } });
    const { status, body } = await postAudit(token);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "malformed" });
  });

  it("refuses an assertion signed by another key under the edge's kid", async () => {
    const { status, body } = await postAudit(await assertion({ key: await STRANGER[kind]() }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "signature" });
  });

  it("refuses an assertion signed with a kid the edge never published", async () => {
    const { status, body } = await postAudit(await assertion({ kid: "unknown-key" }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "signature" });
  });

  it("refuses an assertion for another audience", async () => {
    const { status, body } = await postAudit(await assertion({ aud: "https://other-origin.example.test" }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "audience" });
  });

  it("refuses an assertion from another issuer", async () => {
    const { status, body } = await postAudit(await assertion({ iss: "https://evil.example.test" }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "issuer" });
  });

  it("refuses a replayed assertion", async () => {
    const token = await assertion();
    expect((await postAudit(token)).status).toBe(200);
    const { status, body } = await postAudit(token);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "replayed" });
  });

  it("refuses a replayed assertion bound to this instance from memory, writing nothing to the database", async () => {
    const jti = crypto.randomUUID();
    const token = await assertion({ jti, claims: { instance: "origin-test" } });
    expect((await postAudit(token)).status).toBe(200);
    const { status, body } = await postAudit(token);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "replayed" });
    const rows = await database.pool.query("SELECT 1 FROM assertion_jtis WHERE jti = $1", [jti]);
    expect(rows.rowCount).toBe(0);
  });

  it("claims an assertion bound to no instance in the database, shared by every instance", async () => {
    const jti = crypto.randomUUID();
    expect((await postAudit(await assertion({ jti }))).status).toBe(200);
    const rows = await database.pool.query("SELECT 1 FROM assertion_jtis WHERE jti = $1", [jti]);
    expect(rows.rowCount).toBe(1);
  });

  it("refuses an assertion bound to another instance with 421, naming itself and setting its stickiness cookie", async () => {
    const response = await origin.app.request(AUDIT_INGEST_PATH, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [EDGE_ASSERTION_HEADER]: await assertion({ claims: { instance: "origin-other" } }),
      },
      body: JSON.stringify({ events: [auditEvent()] }),
    });
    expect(response.status).toBe(421);
    expect(await response.json()).toEqual({ error: "invalid_edge_assertion", reason: "instance" });
    expect(response.headers.get("mcp-origin-instance")).toBe("origin-test");
    expect(response.headers.getSetCookie().some((cookie) => cookie.startsWith("MCP_ORIGIN=origin-test;"))).toBe(true);
  });

  it("refuses a token of another type (an id_token replayed as an assertion)", async () => {
    const { status, body } = await postAudit(await assertion({ typ: "JWT" }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "type" });
  });

  it("refuses an assertion signed with the other kind of key (algorithm confusion)", async () => {
    const token = await assertion(await OTHER_KIND[kind]());
    const { status, body } = await postAudit(token);
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "algorithm" });
  });

  it("refuses an unsigned assertion (alg none)", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: EDGE_ASSERTION_TYPE })).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({
        sub: "user-1",
        client_id: "client-1",
        iss: TEST_EDGE,
        aud: TEST_ORIGIN,
        jti: crypto.randomUUID(),
        iat: now,
        exp: now + 60,
      }),
    ).toString("base64url");
    const { status, body } = await postAudit(`${header}.${payload}.`);
    expect(status).toBe(401);
    expect(["algorithm", "malformed"]).toContain(body.reason);
  });

  it("refuses an assertion without the client it was issued through", async () => {
    const { status, body } = await postAudit(await assertion({ claims: { client_id: undefined } }));
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "claims" });
  });

  it("refuses a garbled assertion", async () => {
    const { status, body } = await postAudit("not.a.jwt");
    expect({ status, reason: body.reason }).toEqual({ status: 401, reason: "malformed" });
  });

  it("refuses an assertion for one server presented at another's endpoint", async () => {
    const response = await origin.app.request("/servers/everything/mcp", {
      method: "POST",
      headers: {
        [EDGE_ASSERTION_HEADER]: await assertion({ claims: { server: "filesystem" } }),
        "content-type": "application/json",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toBe('the edge assertion is for server "filesystem", not "everything"');
  });

  it("refuses audit events posted with an assertion minted for a user's MCP call", async () => {
    const forUser = await assertion({ claims: { purpose: "mcp", server: "everything" } });
    expect((await postAudit(forUser)).status).toBe(403);
  });

  it("refuses an MCP request carried by the audit delivery's assertion", async () => {
    const response = await origin.app.request("/servers/everything/mcp", {
      method: "POST",
      headers: {
        [EDGE_ASSERTION_HEADER]: await assertion({ claims: { purpose: "audit-delivery", server: "everything" } }),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(403);
  });

  it("stores the valid events of a batch and refuses the others by their place, saying why (422)", async () => {
    const events = [auditEvent(), { ...auditEvent(), outcome: "maybe" }, auditEvent()];
    const response = await origin.app.request(AUDIT_INGEST_PATH, {
      method: "POST",
      headers: { [EDGE_ASSERTION_HEADER]: await assertion(), "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    expect(response.status).toBe(422);
    expect(await response.json()).toEqual({
      error: "invalid_audit_events",
      inserted: 2,
      refused: [{ index: 1, problems: [expect.stringMatching(/^outcome: /)] }],
    });
  });

  it("refuses a request that is no batch of events at all (400), saying what is wrong", async () => {
    const response = await origin.app.request(AUDIT_INGEST_PATH, {
      method: "POST",
      headers: { [EDGE_ASSERTION_HEADER]: await assertion(), "content-type": "application/json" },
      body: JSON.stringify({ events: [] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "invalid_audit_batch", problems: [expect.stringMatching(/^events: /)] });
  });

  it("leaves only the health probes open", async () => {
    expect((await origin.app.request("/healthz")).status).toBe(200);
    expect(await (await origin.app.request("/readyz")).json()).toEqual({ status: "ready" });
    expect((await origin.app.request("/servers/everything/mcp", { method: "POST" })).status).toBe(401);
    expect((await origin.app.request("/anything-else")).status).toBe(404);
  });

  it("answers 503 with Retry-After and a JSON-RPC error, not 500, when its database is down", async () => {
    const unreachable = createPool("postgres://postgres@127.0.0.1:1/postgres", { max: 1 });
    const downApp = createOriginApp(testOriginParts(origin.edge, { pool: unreachable }));
    try {
      const response = await downApp.request("/servers/everything/mcp", {
        method: "POST",
        headers: {
          [EDGE_ASSERTION_HEADER]: await assertion({ claims: { server: "everything" } }),
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      // It names itself: the edge must not move the user off an instance that is only waiting for its database.
      expect(response.headers.get("mcp-origin-instance")).toBe("origin-test");
      expect(await response.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
    } finally {
      await unreachable.end();
    }
  });
});

describe("the verifier during a key rotation", () => {
  it("accepts assertions signed by either EC key of the edge's set, each under its own kid only", async () => {
    const [older, newer] = await Promise.all([generateKeyPair("ES256"), generateKeyPair("ES256")]);
    const getKey = createLocalJWKSet({
      keys: [
        { ...(await exportJWK(older.publicKey)), kid: "older", alg: "ES256" },
        { ...(await exportJWK(newer.publicKey)), kid: "newer", alg: "ES256" },
      ],
    });
    const verify = createAssertionVerifier({
      issuer: TEST_EDGE,
      audience: TEST_ORIGIN,
      keys: { algorithm: "ES256", getKey },
      claimJti: async () => true,
    });
    const signed = (kid: string, key: CryptoKey) => assertion({ alg: "ES256", kid, key });
    expect((await verify(await signed("older", older.privateKey))).sub).toBe("user-1");
    expect((await verify(await signed("newer", newer.privateKey))).sub).toBe("user-1");
    await expect(verify(await signed("older", newer.privateKey))).rejects.toMatchObject({ reason: "signature" });
  });

  it("accepts assertions under either shared key of the origin's set, each under its own kid only", async () => {
    const [older, newer] = [crypto.getRandomValues(new Uint8Array(32)), crypto.getRandomValues(new Uint8Array(48))];
    const jwk = (kid: string, secret: Uint8Array) => ({ kty: "oct", kid, k: Buffer.from(secret).toString("base64url") });
    const keys = sharedEdgeKeys(JSON.stringify({ keys: [jwk("older", older), jwk("newer", newer)] }));
    const verify = createAssertionVerifier({ issuer: TEST_EDGE, audience: TEST_ORIGIN, keys, claimJti: async () => true });
    const signed = (kid: string, key: Uint8Array) => assertion({ alg: "HS256", kid, key });
    expect((await verify(await signed("older", older))).sub).toBe("user-1");
    expect((await verify(await signed("newer", newer))).sub).toBe("user-1");
    await expect(verify(await signed("older", newer))).rejects.toMatchObject({ reason: "signature" });
    await expect(verify(await signed("retired", older))).rejects.toMatchObject({ reason: "signature" });
    // A kid is the caller's text: it reaches the log quoted, on one line.
    const forgedLine = await assertion({ alg: "HS256", kid: "x\nedge assertion accepted", key: older })
      .then(verify)
      .catch(String);
    expect(forgedLine).toContain('no shared edge key has the kid "x\\nedge assertion accepted"');
    // No kid at all: no key is guessed.
    const withoutKid = await assertion({ alg: "HS256", key: older, header: { kid: undefined } });
    await expect(verify(withoutKid)).rejects.toMatchObject({ reason: "signature" });
  });

  it("does not blame the assertion when the edge's key set cannot be fetched (a server error, not a refusal)", async () => {
    const verify = createAssertionVerifier({
      issuer: TEST_EDGE,
      audience: TEST_ORIGIN,
      keys: {
        algorithm: "ES256",
        getKey: async () => {
          throw new errors.JWKSTimeout();
        },
      },
      claimJti: async () => true,
    });
    const { privateKey } = await generateKeyPair("ES256");
    const failure = await verify(await assertion({ alg: "ES256", key: privateKey })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(errors.JWKSTimeout);
  });
});

describe("the origin's shared edge keys", () => {
  const secret = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");

  it("tells the operator, when the edge signs with an EC key, that the two tiers disagree on the kind of key", async () => {
    const keys = sharedEdgeKeys(JSON.stringify({ kty: "oct", kid: "edge-1", k: secret(32) }));
    const verify = createAssertionVerifier({ issuer: TEST_EDGE, audience: TEST_ORIGIN, keys, claimJti: async () => true });
    const { privateKey } = await generateKeyPair("ES256");
    await expect(verify(await assertion({ alg: "ES256", key: privateKey }))).rejects.toThrow(
      "this origin accepts HS256 only (EDGE_ASSERTION_SHARED_KEYS is set); a forged token, or the edge's EDGE_SIGNING_KEY is of the other kind",
    );
  });

  it.each([
    ["not JSON", "not json", "EDGE_ASSERTION_SHARED_KEYS: not JSON"],
    ["an EC key", JSON.stringify({ kty: "EC", kid: "a", k: secret(32) }), '"kty":"oct"'],
    ["a key without kid", JSON.stringify({ kty: "oct", k: secret(32) }), '"kid"'],
    [
      "a key shorter than 256 bits",
      JSON.stringify({ kty: "oct", kid: "a", k: secret(31) }),
      "has 248 bits; HS256 needs at least 256",
    ],
    ["a key for another algorithm", JSON.stringify({ kty: "oct", kid: "a", k: secret(32), alg: "HS512" }), "is for HS512"],
    ["an empty set", JSON.stringify({ keys: [] }), "the key set is empty"],
    ["null", "null", "expected a shared-key JWK or a JWK set of them, not null"],
    ["a set that is not an array", JSON.stringify({ keys: {}, kty: "oct", kid: "a", k: secret(32) }), '"keys" must be an array'],
    [
      "a k that is not base64url",
      JSON.stringify({ kty: "oct", kid: "a", k: `${secret(32)}=` }),
      "is not base64url without padding",
    ],
    [
      "a set mixing an EC key in",
      JSON.stringify({
        keys: [
          { kty: "oct", kid: "a", k: secret(32) },
          { kty: "EC", crv: "P-256", kid: "b", x: "AA", y: "AA" },
        ],
      }),
      '"kty":"oct"',
    ],
    [
      "two keys under one kid",
      JSON.stringify({
        keys: [
          { kty: "oct", kid: "a", k: secret(32) },
          { kty: "oct", kid: "a", k: secret(32) },
        ],
      }),
      'two keys have the kid "a"',
    ],
  ])("refuses %s at start, saying what is wrong", (_what, json, message) => {
    expect(() => sharedEdgeKeys(json)).toThrow(message);
  });

  it("never shows the key when it is pasted with its quotes (the value is the secret itself)", () => {
    const pasted = secret(32);
    const refusal = (() => {
      try {
        sharedEdgeKeys(JSON.stringify(pasted));
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(refusal).toContain("expected a shared-key JWK or a JWK set of them, not a string");
    expect(refusal).not.toContain(pasted);
  });
});
