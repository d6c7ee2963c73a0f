import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOriginApp } from "../../aws/origin/app.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { DatabaseNotAnswering, oneAtATime, probeDatabase } from "../../aws/origin/health/database-probe.ts";
import { EdgeKeySetUnavailable, type EdgeKeyTiming, edgeKeys } from "../../aws/origin/trust/jwks.ts";
import { createAssertionVerifier } from "../../aws/origin/trust/verify-assertion.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { signer, TEST_EDGE, TEST_KID, TEST_ORIGIN, testEdgeKey, testOriginParts } from "./origin-under-test.ts";

// The origin checks every request's edge assertion with the edge's published key set. When that set cannot be read
// (a wrong edgeJwksUrl, the edge answering 500, a firewall's 403 page), no assertion can be checked: that is the
// origin unable to serve, not a forged assertion. Before, jose's plain error for a non-200 answer was taken for a
// malformed assertion: 401 to every MCP client (told to sign in again), counted as forgeries, and /readyz said ready
// (s24 hunt observability F1). And readiness names a database that hangs before the edge gives up on the origin (F3).

let keySet: { status: number; body: string };
/** How many times the key set was fetched. */
let fetches = 0;
let jwks: Server;
let jwksUrl: string;
let publicJwk: JWK;
let sign: ReturnType<typeof signer>;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: TEST_KID, alg: "ES256" };
  sign = signer("ES256", pair.privateKey);
  jwks = createServer((_request, response) => {
    fetches++;
    response.writeHead(keySet.status, { "content-type": "application/json" });
    response.end(keySet.body);
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/edge-jwks.json`;
});
afterAll(() => new Promise((resolve) => jwks.close(resolve)));

async function originReadingKeySet(timing?: EdgeKeyTiming, signWith = sign, log?: (line: string) => void) {
  const keys = edgeKeys(jwksUrl, timing, log);
  const parts = testOriginParts(await testEdgeKey());
  const verifyAssertion = createAssertionVerifier({ issuer: TEST_EDGE, audience: TEST_ORIGIN, keys, claimJti: async () => true });
  const app = createOriginApp({ ...parts, verifyAssertion, edgeKeysUnreadable: keys.unreadable });
  const call = async (claims: Record<string, unknown> = { server: "everything", purpose: "mcp" }, kid?: string) =>
    app.request("/servers/everything/mcp", {
      method: "POST",
      headers: {
        [EDGE_ASSERTION_HEADER]: await signWith({ sub: "user-1", client_id: "client-1", ...claims }, kid ? { kid } : {}),
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
  return { app, call };
}

const readiness = async (app: { request: (path: string) => Response | Promise<Response> }) => {
  const response = await app.request("/readyz");
  return { status: response.status, body: await response.json() };
};

describe("the edge's key set, unreadable", () => {
  it.each([
    ["a server error", 500, '{"error":"internal"}'],
    ["a firewall's page", 403, "<html>blocked</html>"],
    ["a wrong URL", 404, "not found"],
    ["an answer that is no key set", 200, '{"hello":"world"}'],
  ])("%s: 503 in JSON-RPC with Retry-After, not a refused assertion, and /readyz not ready", async (_case, status, body) => {
    keySet = { status, body };
    const { app, call } = await originReadingKeySet();
    const response = await call();
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32000, message: "the origin cannot check the edge's requests just now; retry shortly" },
    });
    const ready = await readiness(app);
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({
      status: "not ready",
      edgeKeys: expect.stringContaining(`the edge's key set at ${jwksUrl} could not be read`),
    });
  });

  it("is served again, and /readyz ready, once the key set answers", async () => {
    keySet = { status: 500, body: "" };
    const { app, call } = await originReadingKeySet();
    expect((await call()).status).toBe(503);
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    // The assertion passes the gate: the server it names is not configured here (404), the gate said nothing.
    expect((await call()).status).toBe(404);
    expect(await readiness(app)).toEqual({ status: 200, body: { status: "ready" } });
  });

  it("still refuses an assertion whose key the set does not have (a signature refusal, 401), and stays ready", async () => {
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    const { app, call } = await originReadingKeySet();
    const response = await call(undefined, "a-key-the-edge-never-had");
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_edge_assertion", reason: "signature" });
    expect((await readiness(app)).status).toBe(200);
  });

  it("names the URL and the cause in the error the gate logs", async () => {
    keySet = { status: 502, body: "bad gateway" };
    const getKey = edgeKeys(jwksUrl).getKey;
    const failure = await Promise.resolve()
      .then(() => getKey({ alg: "ES256", kid: TEST_KID }, { payload: "", signature: "" } as never))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EdgeKeySetUnavailable);
    expect(String(failure)).toContain(`${jwksUrl} could not be read (Expected 200 OK from the JSON Web Key Set HTTP response)`);
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A copy fetched again after 100 ms, kept 400 ms past that when a refresh fails, tried again every 200 ms meanwhile. */
const SHORT: EdgeKeyTiming = { cacheMaxAgeMs: 100, staleForMs: 400, staleRetryEveryMs: 200, unknownKidReloadEveryMs: 5_000 };

// s28 keys hunt F2: a refresh that failed threw the copy away, so a bad EDGE_SIGNING_KEY_ROTATION (the edge's set then
// answered 500) refused every request on every task ten minutes later, signed with a key verified minutes before.
describe("the edge's key set, unreadable at a refresh", () => {
  it("checks assertions with the last copy read, says so in /readyz and the log, and refuses once that copy is too old", async () => {
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    const lines: string[] = [];
    const { app, call } = await originReadingKeySet(SHORT, sign, (line) => lines.push(line));
    expect((await call()).status).toBe(404); // past the gate: the server is not configured here
    keySet = { status: 500, body: '{"error":"internal"}' };
    await sleep(150); // the copy is due for a refresh, which fails
    const fetchesBefore = fetches;
    expect((await call()).status).toBe(404);
    expect((await call()).status).toBe(404);
    // s28 review R1: one request tried the edge; the next used the copy at once, without waiting for the edge again.
    expect(fetches - fetchesBefore).toBe(1);
    const ready = await readiness(app);
    expect(ready.status).toBe(503);
    const kept = /could not be read .*; assertions are checked with the copy read at \S+ until it is an hour too old/;
    expect(ready.body.edgeKeys).toMatch(kept);
    expect(lines).toHaveLength(1); // s28 review R7: said once in the log, not per request
    expect(lines[0]).toMatch(kept);
    expect((await call(undefined, "a-key-the-edge-never-had")).status).toBe(401);
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    await sleep(250); // past staleRetryEveryMs: the next request reads the set again
    expect((await call()).status).toBe(404);
    expect(lines[1]).toBe(`the edge's key set at ${jwksUrl} is read again: assertions are checked with it`);
    expect((await readiness(app)).status).toBe(200);
  });

  it("refuses every request once the copy is past its hour too", async () => {
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    const { call } = await originReadingKeySet(SHORT);
    expect((await call()).status).toBe(404);
    keySet = { status: 500, body: '{"error":"internal"}' };
    await sleep(550); // past cacheMaxAgeMs + staleForMs
    expect((await call()).status).toBe(503);
  });
});

// s28 keys hunt F1: a key swapped in without step 1 of the rotation was refused for up to 30 s (jose's cooldown after
// its last fetch) on every task that had fetched the set just before.
describe("an assertion signed with a key the origin's copy does not have yet", () => {
  it("makes the origin read the set again at once, once for requests that come together, at most every few seconds", async () => {
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk] }) };
    const next = await generateKeyPair("ES256", { extractable: true });
    const nextJwk = { ...(await exportJWK(next.publicKey)), kid: "next-key", alg: "ES256" };
    const signNext = signer("ES256", next.privateKey);
    const signEither: typeof sign = (claims, shape = {}) => (shape.kid === "next-key" ? signNext : sign)(claims, shape);
    const { call } = await originReadingKeySet({ ...SHORT, cacheMaxAgeMs: 60_000 }, signEither);
    expect((await call()).status).toBe(404); // the set is read: the current key passes the gate
    keySet = { status: 200, body: JSON.stringify({ keys: [publicJwk, nextJwk] }) };
    const fetchesBefore = fetches;
    // Inside jose's cooldown; five at once (s28 review R2: only the first waited for the read, the others were refused).
    const together = await Promise.all(Array.from({ length: 5 }, () => call(undefined, "next-key")));
    expect(together.map((response) => response.status)).toEqual([404, 404, 404, 404, 404]);
    expect(fetches - fetchesBefore).toBe(1);
    // s28 review R5: another unknown kid within the interval is refused without another read.
    expect((await call(undefined, "a-key-the-edge-never-had")).status).toBe(401);
    expect(fetches - fetchesBefore).toBe(1);
  });
});

describe("readiness and a database that hangs", () => {
  let silent: TcpServer;
  const sockets: Socket[] = [];
  let port: number;
  beforeAll(async () => {
    // Accepts connections and never answers: a database behind a dropped route, or stalled.
    silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    port = (silent.address() as AddressInfo).port;
  });
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });

  it("sends it no second query while the first still hangs (s24 review R11)", async () => {
    let sent = 0;
    const hanging = oneAtATime(() => {
      sent++;
      return new Promise(() => {});
    });
    for (let probe = 0; probe < 3; probe++) await expect(probeDatabase(hanging, 20)).rejects.toBeInstanceOf(DatabaseNotAnswering);
    expect(sent).toBe(1);
  });

  it("gives up on it within its bound and says it is not answering, not that it is unreachable", async () => {
    const pool = createPool(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
    try {
      const failure = await probeDatabase(() => pool.query("select 1"), 300).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DatabaseNotAnswering);
      const parts = testOriginParts(await testEdgeKey());
      const app = createOriginApp({ ...parts, checkDatabase: () => probeDatabase(() => pool.query("select 1"), 300) });
      expect(await readiness(app)).toEqual({
        status: 503,
        body: { status: "not ready", database: "not answering (no answer to a query within 0.3 s)" },
      });
    } finally {
      void pool.end().catch(() => {});
    }
  });
});
