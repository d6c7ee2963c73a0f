import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { Policy } from "../../contract/config/policy.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { WARM_PATH } from "../../contract/warm-request.ts";
import { demoServers } from "../../local/system.ts";
import { testHostOptions } from "./modern-request.ts";
import { type OriginUnderTest, originUnderTest } from "./origin-under-test.ts";

let pool: HostPool;
let origin: OriginUnderTest;

beforeAll(async () => {
  const everything = demoServers().everything;
  if (!everything) throw new Error("the demo server is missing");
  pool = createHostPool({
    servers: { everything, restricted: everything },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: testHostOptions,
    log: () => {},
  });
  origin = await originUnderTest({
    parts: {
      pool,
      // "restricted" is configured, but no rule lets anyone use it.
      policy: Policy.parse({ rules: [{ effect: "allow", who: { domains: ["example.com"] }, servers: ["everything"] }] }),
    },
  });
});
afterAll(() => pool.close());

const assertion = (claims: Record<string, unknown>) =>
  origin.edge.sign({ sub: "ada", email: "ada@example.com", client_id: "test-client", ...claims });

async function warm(body: unknown, claims: Record<string, unknown> = { purpose: "warm" }, token?: string | null) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers[EDGE_ASSERTION_HEADER] = token ?? (await assertion(claims));
  return origin.app.request(WARM_PATH, { method: "POST", headers, body: JSON.stringify(body) });
}

const waitFor = async (condition: () => boolean) => {
  for (let tries = 0; tries < 300 && !condition(); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
  return condition();
};

describe("POST /servers/warm: the user's upstreams started at sign-in", () => {
  it("answers at once, then starts the user's own child, ready and idle for their first call", async () => {
    const response = await warm({ servers: ["everything"] });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ warming: ["everything"] });
    // Sticky like an MCP answer: the balancer keeps the user's calls on the instance that started their child.
    expect(response.headers.get("set-cookie")).toMatch(/^MCP_ORIGIN=origin-test;/);
    expect(await waitFor(() => pool.size() === 1)).toBe(true);
    const lease = await pool.acquire("everything", { sub: "ada", server: "everything", clientId: "test-client", era: "modern" });
    expect(pool.size()).toBe(1);
    expect(lease.host.active).toBe(1);
    lease.release();
  });

  it("ignores servers this origin does not serve and those the policy keeps the user from", async () => {
    const before = pool.size();
    const response = await warm({ servers: ["not-configured", "restricted"] }, { purpose: "warm", sub: "bob" });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ warming: [] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pool.size()).toBe(before);
  });

  it("refuses an assertion minted for an MCP request, and one for any other purpose", async () => {
    for (const purpose of ["mcp", "ops", "audit-delivery"]) {
      const response = await warm({ servers: ["everything"] }, { purpose, sub: "mallory", server: "everything" });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ reason: "purpose", detail: expect.stringContaining('purpose "warm"') });
    }
  });

  it("refuses a request without an assertion, or with a replayed one", async () => {
    expect((await warm({ servers: ["everything"] }, {}, null)).status).toBe(401);
    const token = await assertion({ purpose: "warm", sub: "carol" });
    expect((await warm({ servers: [] }, {}, token)).status).toBe(202);
    expect((await warm({ servers: ["everything"] }, {}, token)).status).toBe(401);
  });

  it("refuses a body that is not a list of server names, saying what is wrong", async () => {
    const response = await warm({ servers: ["../etc"] });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: "invalid_warm_request",
      problems: [expect.stringMatching(/^servers\.0: /)],
    });
  });
});
