import { beforeAll, describe, expect, it, vi } from "vitest";
import { recordAudit } from "../../worker/audit/record.ts";
import worker from "../../worker/index.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { registerClient, signedInTokens } from "./sign-in.ts";

// The documented layout (docs/analytics.md), written out here rather than imported, so that a reordered table fails.
const BLOB_COLUMNS = ["kind", "server", "method", "tool", "outcome", "clientId", "protocolVersion", "userHash"];
const DOUBLE_COLUMNS = ["latencyMs", "requestBytes", "responseBytes", "httpStatus", "errorCode", "count"];

/** A dataset binding that keeps every data point written to it, or throws on each write. */
function recordingDataset(fail = false) {
  const points: AnalyticsEngineDataPoint[] = [];
  const writeDataPoint = (point: AnalyticsEngineDataPoint) => {
    if (fail) throw new Error("dataset unavailable");
    points.push(point);
  };
  return { points, binding: { writeDataPoint } };
}

/** A data point as named columns, by the documented layout. */
function columns(point: AnalyticsEngineDataPoint | undefined) {
  expect(point?.blobs).toHaveLength(BLOB_COLUMNS.length);
  expect(point?.doubles).toHaveLength(DOUBLE_COLUMNS.length);
  expect(point?.indexes).toHaveLength(1);
  const named: Record<string, unknown> = { index: point?.indexes?.[0] };
  BLOB_COLUMNS.forEach((name, i) => {
    named[name] = point?.blobs?.[i];
  });
  DOUBLE_COLUMNS.forEach((name, i) => {
    named[name] = point?.doubles?.[i];
  });
  return named;
}

/** Records one event through `recordAudit`, as every caller does, and returns the data points it wrote. */
async function record(facts: Parameters<typeof recordAudit>[2], overrides: Record<string, unknown> = {}) {
  const dataset = recordingDataset();
  const waits: Promise<unknown>[] = [];
  const env = testEnv({ ...capturedAudit().env, ANALYTICS: dataset.binding, ...overrides });
  recordAudit(env, { waitUntil: (promise) => waits.push(promise) }, facts);
  await Promise.all(waits);
  return dataset.points;
}

const signIn = (sub: string) =>
  ({
    kind: "auth.sign_in",
    userSub: sub,
    userEmail: `${sub}@example.com`,
    clientId: "client-1",
    outcome: "ok",
    latencyMs: 12,
  }) as const;
const hashOf = async (sub: string, overrides: Record<string, unknown> = {}) =>
  columns((await record(signIn(sub), overrides))[0]).userHash as string;

let accessToken: string;
beforeAll(async () => {
  accessToken = (await signedInTokens(await registerClient())).access_token;
});

const toolCall = JSON.stringify({
  jsonrpc: "2.0",
  id: 7,
  method: "tools/call",
  params: { name: "echo", arguments: { message: "hi" } },
});
const mcpRequest = (token: string) =>
  new Request(`${PUBLIC_URL}/mcp/everything`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    },
    body: toolCall,
  });

describe("the edge writes one Analytics Engine data point per audited event", () => {
  it("an MCP request (here refused by the absent origin, 503), in the documented layout", async () => {
    const dataset = recordingDataset();
    const audit = capturedAudit();
    const response = await callEdge(mcpRequest(accessToken), undefined, { ...audit.env, ANALYTICS: dataset.binding });
    expect(response.status).toBe(503);
    expect(dataset.points).toHaveLength(1);
    const event = audit.events[0];
    expect(event?.userSub).toBeTruthy();
    expect(columns(dataset.points[0])).toEqual({
      index: "everything",
      kind: "mcp.request",
      server: "everything",
      method: "tools/call",
      tool: "echo",
      outcome: event?.outcome, // as audited: the proxy answered with a JSON-RPC error
      clientId: event?.clientId,
      protocolVersion: "2025-06-18",
      userHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      latencyMs: event?.latencyMs,
      requestBytes: new TextEncoder().encode(toolCall).byteLength,
      responseBytes: event?.responseBytes ?? 0,
      httpStatus: 503,
      errorCode: event?.errorCode ?? 0,
      count: 1,
    });
    // Neither the user's sub nor their e-mail, anywhere in the point.
    const written = JSON.stringify(dataset.points);
    expect(written).not.toContain(event?.userSub as string);
    if (event?.userEmail) expect(written).not.toContain(event.userEmail);
    expect(written).not.toContain("@");
  });

  it("an auth event: a refused token at an MCP endpoint, without a user", async () => {
    const dataset = recordingDataset();
    const response = await callEdge(mcpRequest("not-a-token"), undefined, { ANALYTICS: dataset.binding });
    expect(response.status).toBe(401);
    expect(dataset.points).toHaveLength(1);
    expect(columns(dataset.points[0])).toMatchObject({
      index: "everything",
      kind: "auth.denied",
      server: "everything",
      outcome: "denied",
      userHash: "",
      httpStatus: 401,
      count: 1,
    });
  });

  it("an auth event with a user: the sign-in, indexed by its kind, with the hashed user and no e-mail", async () => {
    const points = await record(signIn("user-1"));
    expect(points).toHaveLength(1);
    expect(columns(points[0])).toEqual({
      index: "auth.sign_in",
      kind: "auth.sign_in",
      server: "",
      method: "",
      tool: "",
      outcome: "ok",
      clientId: "client-1",
      protocolVersion: "",
      userHash: expect.stringMatching(/^[0-9a-f]{16}$/),
      latencyMs: 12,
      requestBytes: 0,
      responseBytes: 0,
      httpStatus: 0,
      errorCode: 0,
      count: 1,
    });
    const written = JSON.stringify(points);
    expect(written).not.toContain("user-1");
    expect(written).not.toContain("example.com");
  });

  it("an aggregated event counts the requests it stands for", async () => {
    const points = await record({ kind: "auth.rate_limited", outcome: "denied", httpStatus: 429, latencyMs: 0, count: 17 });
    expect(columns(points[0])).toMatchObject({ index: "auth.rate_limited", httpStatus: 429, count: 17 });
  });
});

describe("the user id is an HMAC of the sub", () => {
  it("stable for one sub, different for two, never the sub itself", async () => {
    const first = await hashOf("user-a");
    expect(first).toMatch(/^[0-9a-f]{16}$/);
    expect(await hashOf("user-a")).toBe(first);
    expect(await hashOf("user-b")).not.toBe(first);
    expect(first).not.toContain("user-a");
  });

  it("keyed: ANALYTICS_HASH_SECRET, when set, is the HMAC-SHA-256 key; another key gives another id", async () => {
    const secret = "s".repeat(32);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("user-a")));
    const expected = Array.from(mac.subarray(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join("");

    expect(await hashOf("user-a", { ANALYTICS_HASH_SECRET: secret })).toBe(expected);
    expect(await hashOf("user-a", { ANALYTICS_HASH_SECRET: "t".repeat(32) })).not.toBe(expected);
    // Without the secret, the key derived from the signing key: another key again.
    const derived = await hashOf("user-a");
    expect(derived).not.toBe(expected);
    expect(derived).not.toBe(await hashOf("user-a", { ANALYTICS_HASH_SECRET: "t".repeat(32) }));
  });

  it("derived from a shared signing key's k when the edge signs with one, and unlike the k itself", async () => {
    const k = "dGVzdC1vbmx5LXNoYXJlZC1rZXktb2YtMjU2LWJpdHM";
    const shared = (kid: string, secret = k) => JSON.stringify({ kty: "oct", kid, k: secret });
    const fromShared = await hashOf("user-a", { EDGE_SIGNING_KEY: shared("one") });
    expect(fromShared).toMatch(/^[0-9a-f]{16}$/);
    // The key material decides, not the kid; another k gives another id, and the EC key's derivation another still.
    expect(await hashOf("user-a", { EDGE_SIGNING_KEY: shared("two") })).toBe(fromShared);
    expect(await hashOf("user-a", { EDGE_SIGNING_KEY: shared("one", "b3RoZXItdGVzdC1zaGFyZWQta2V5LW9mLTI1Ni1iaXRz") })).not.toBe(
      fromShared,
    );
    expect(await hashOf("user-a")).not.toBe(fromShared);
  });
});

describe("a data point stays within Analytics Engine's limits", () => {
  it("cuts long and multi-byte text: each blob to 200 characters, the index to 96 bytes", async () => {
    const points = await record({
      kind: "mcp.request",
      outcome: "ok",
      latencyMs: 1,
      server: "s".repeat(500),
      tool: "t".repeat(10_000),
      method: "€".repeat(5000),
      clientId: "😀".repeat(3000),
      protocolVersion: "v".repeat(300),
    });
    const named = columns(points[0]);
    expect(named.tool).toBe("t".repeat(200));
    expect(named.method).toBe("€".repeat(200));
    const bytes = (text: unknown) => new TextEncoder().encode(String(text)).byteLength;
    for (const blob of points[0]?.blobs ?? []) expect(String(blob).length).toBeLessThanOrEqual(200);
    expect((points[0]?.blobs ?? []).reduce((total: number, blob) => total + bytes(blob), 0)).toBeLessThanOrEqual(16 * 1024);
    expect(bytes(named.index)).toBeLessThanOrEqual(96);
    expect(String(named.index)).toMatch(/^s+$/);
  });
});

describe("analytics never fails a request", () => {
  it("a dataset that throws: the request is answered, its audit event queued, the error logged without the user", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const audit = capturedAudit();
    const waits: Promise<unknown>[] = [];
    const ctx = { waitUntil: (promise: Promise<unknown>) => waits.push(promise), passThroughOnException: () => {}, props: {} };
    const env = testEnv({ ...audit.env, ANALYTICS: recordingDataset(true).binding });
    const response = await worker.fetch(mcpRequest(accessToken), env, ctx as unknown as ExecutionContext);
    const settled = await Promise.allSettled(waits);
    const lines = logged.mock.calls.map((call) => String(call[0]));
    logged.mockRestore();

    expect(response.status).toBe(503);
    expect(settled.map((result) => result.status)).not.toContain("rejected");
    expect(audit.events).toEqual([expect.objectContaining({ kind: "mcp.request", httpStatus: 503 })]);
    const line = lines.find((text) => text.includes("analytics"));
    expect(line).toBeDefined();
    expect(line).not.toContain(audit.events[0]?.userSub as string);
    if (audit.events[0]?.userEmail) expect(line).not.toContain(audit.events[0].userEmail);
  });
});
