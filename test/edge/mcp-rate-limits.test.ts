import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RateLimiter } from "../../durable-objects/rate-limiter.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { mcpRateLimited } from "../../worker/mcp/rate-limit.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge } from "./edge-env.ts";
import { registerClient, signedInTokens } from "./sign-in.ts";

// MCP calls are limited per client address (requests whose token is refused), per OAuth client of a user and per user, with the Workers
// rate-limiting bindings of wrangler.toml. Here the bindings' verdicts are stood in for: the binding itself is the
// platform's; what is tested is what the edge does with a refusal.

let accessToken: string;
beforeAll(async () => {
  accessToken = (await signedInTokens(await registerClient())).access_token;
});

const listTools = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
const refusing = { limit: async () => ({ success: false }) };
const allowing = { limit: async () => ({ success: true }) };
/** A binding that gives `success` and writes down each key it was asked about. */
const recording = (keys: string[], success: boolean) => ({
  limit: async ({ key }: { key: string }) => {
    keys.push(key);
    return { success };
  },
});
const counterOf = (key: string) => {
  const namespace = (env as unknown as EdgeEnv).RATE_LIMITER;
  return namespace.get(namespace.idFromName(key));
};

const call = (headers: Record<string, string>, bindings: Record<string, unknown>) =>
  callEdge(
    "/mcp/everything",
    {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body: listTools,
    },
    bindings,
  );

describe("rate limits of MCP calls", () => {
  it("refuses a user over the limit with 429 and Retry-After, before the origin", async () => {
    const response = await call(
      { authorization: `Bearer ${accessToken}` },
      { RATE_LIMIT_USER: refusing, RATE_LIMIT_IP: allowing },
    );
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("60");
    expect(await response.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
  });

  it("refuses one client of a user over its own limit, naming it, without spending the user's budget", async () => {
    const userCounted: string[] = [];
    const countingUser = recording(userCounted, true);
    const response = await call(
      { authorization: `Bearer ${accessToken}` },
      { RATE_LIMIT_CLIENT: refusing, RATE_LIMIT_USER: countingUser, RATE_LIMIT_IP: allowing },
    );
    expect(response.status).toBe(429);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /^too many requests from this client/,
    );
    expect(userCounted).toEqual([]);
    // Let through by its client's limit, a request counts against its user's.
    await call({ authorization: `Bearer ${accessToken}` }, { RATE_LIMIT_CLIENT: allowing, RATE_LIMIT_USER: countingUser });
    expect(userCounted).toEqual([expect.stringMatching(/^user:/)]);
  });

  it("audits a client's refusals with its user and client id", async () => {
    const ownToken = (await signedInTokens(await registerClient())).access_token;
    await call({ authorization: `Bearer ${ownToken}` }, { RATE_LIMIT_CLIENT: refusing });
    const keyed: string[] = [];
    await call({ authorization: `Bearer ${ownToken}` }, { RATE_LIMIT_CLIENT: recording(keyed, false) });
    const audit = capturedAudit();
    await runInDurableObject(counterOf(keyed[0] as string), async (limiter: RateLimiter) => {
      Object.assign((limiter as unknown as { env: object }).env, audit.env);
      await limiter.reportRefused(Date.now() + 61_000);
    });
    expect(audit.events).toEqual([
      expect.objectContaining({ kind: "mcp.rate_limited", userSub: expect.any(String), clientId: expect.any(String), count: 2 }),
    ]);
  });

  it("audits a user's refusals with the user only (no client: the user's limit covers all their clients)", async () => {
    const ownToken = (await signedInTokens(await registerClient())).access_token;
    const keyed: string[] = [];
    await call(
      { authorization: `Bearer ${ownToken}` },
      { RATE_LIMIT_CLIENT: allowing, RATE_LIMIT_USER: recording(keyed, false) },
    );
    const audit = capturedAudit();
    await runInDurableObject(counterOf(keyed[0] as string), async (limiter: RateLimiter) => {
      Object.assign((limiter as unknown as { env: object }).env, audit.env);
      await limiter.reportRefused(Date.now() + 61_000);
    });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({ kind: "mcp.rate_limited", userSub: expect.any(String) });
    expect(audit.events[0]).not.toHaveProperty("clientId");
  });

  it("cuts a flood of bad tokens from one address before their refusals are audited", async () => {
    const audit = capturedAudit();
    const response = await call(
      { authorization: "Bearer not-a-token", "cf-connecting-ip": "203.0.113.7" },
      { RATE_LIMIT_IP: refusing, RATE_LIMIT_USER: allowing, ...audit.env },
    );
    expect(response.status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(audit.events.filter((event) => event.kind === "auth.denied")).toEqual([]);
  });

  it("never counts a valid token against its address: colleagues behind one NAT keep their own budgets", async () => {
    const keys: string[] = [];
    const response = await call(
      { authorization: `Bearer ${accessToken}`, "cf-connecting-ip": "203.0.113.8" },
      { RATE_LIMIT_IP: recording(keys, false), RATE_LIMIT_USER: allowing, RATE_LIMIT_CLIENT: allowing },
    );
    expect(response.status).toBe(503); // reached the relay; the origin is down in these tests
    expect(keys).toEqual([]);
  });

  it("counts an IPv6 address by its /64", async () => {
    const keys: string[] = [];
    for (const ip of ["2001:db8:0:12:1::5", "2001:0DB8:0000:0012:ffff:ffff:ffff:ffff", "2001:db8::1", "::ffff:192.0.2.1"]) {
      await call({ authorization: "Bearer not-a-token", "cf-connecting-ip": ip }, { RATE_LIMIT_IP: recording(keys, true) });
    }
    expect(keys).toEqual(["ip:2001:db8:0:12::/64", "ip:2001:db8:0:12::/64", "ip:2001:db8:0:0::/64", "ip:192.0.2.1"]);
  });

  it("counts a foreign page's requests against its address too, before their refusals are audited", async () => {
    const audit = capturedAudit();
    const response = await call(
      { origin: "https://evil.example", authorization: "Bearer anything", "cf-connecting-ip": "203.0.113.11" },
      { RATE_LIMIT_IP: refusing, ...audit.env },
    );
    expect(response.status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(audit.events.filter((event) => event.kind === "auth.denied")).toEqual([]);
  });

  it("audits refusals as one mcp.rate_limited event per minute with their count", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 20}`;
    for (let i = 0; i < 3; i++) await call({ "cf-connecting-ip": ip }, { RATE_LIMIT_IP: refusing });
    const audit = capturedAudit();
    await runInDurableObject(counterOf(`ip:${ip}`), async (limiter: RateLimiter) => {
      Object.assign((limiter as unknown as { env: object }).env, audit.env);
      await limiter.reportRefused(Date.now() + 61_000);
    });
    expect(audit.events).toEqual([
      expect.objectContaining({ kind: "mcp.rate_limited", method: "mcp", httpStatus: 429, count: 3 }),
    ]);
  });

  it("logs a refusal whose count did not reach its counter object, by the limit's kind, naming no user or address", async () => {
    const overloaded = Object.assign(new Error("Durable Object is overloaded"), { name: "OverloadedError" });
    const counters = {
      idFromName: (name: string) => name,
      get: () => ({ noteRefused: async () => Promise.reject(overloaded) }),
    };
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const subject of [{ ip: "203.0.113.61" }, { user: { userSub: "sub-4711", clientId: "client-0815" } }]) {
        const waiting: Promise<unknown>[] = [];
        const env = { RATE_LIMIT_IP: refusing, RATE_LIMIT_CLIENT: refusing, RATE_LIMITER: counters } as unknown as EdgeEnv;
        const refused = await mcpRateLimited(env, { waitUntil: (promise) => void waiting.push(promise) }, subject);
        expect(refused?.status).toBe(429); // the refusal stands
        await Promise.all(waiting);
      }
      const lines = logged.mock.calls.map((args) => args.join(" "));
      expect(lines).toEqual([
        "rate limit: an MCP refusal (ip limit) was not counted (OverloadedError); mcp.rate_limited under-reports it",
        "rate limit: an MCP refusal (client limit) was not counted (OverloadedError); mcp.rate_limited under-reports it",
      ]);
      for (const secret of ["203.0.113", "sub-4711", "client-0815"]) expect(lines.join("\n")).not.toContain(secret);
    } finally {
      logged.mockRestore();
    }
  });

  describe("a 2025-03-26 batch (s21 insider I3: 100 calls and 100 audit rows for one counted request)", () => {
    const batchOf = (size: number) =>
      JSON.stringify(
        Array.from({ length: size }, (_, index) => ({
          jsonrpc: "2.0",
          id: index + 1,
          method: "tools/call",
          params: { name: "echo" },
        })),
      );
    const postBatch = (size: number, bindings: Record<string, unknown>) =>
      callEdge(
        "/mcp/everything",
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${accessToken}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": "2025-03-26",
          },
          body: batchOf(size),
        },
        bindings,
      );
    /** A binding with `budget` requests left, counting each `limit()` call under its key. */
    const budgeted = (budget: number, counted: string[]) => ({
      limit: async ({ key }: { key: string }) => {
        counted.push(key);
        return { success: counted.length <= budget };
      },
    });

    it("costs each limit one request per message", async () => {
      const byClient: string[] = [];
      const byUser: string[] = [];
      const response = await postBatch(5, {
        RATE_LIMIT_CLIENT: recording(byClient, true),
        RATE_LIMIT_USER: recording(byUser, true),
      });
      expect(response.status).not.toBe(429);
      expect(byClient).toEqual(Array(5).fill(byClient[0]));
      expect(byClient[0]).toMatch(/^client:/);
      expect(byUser).toEqual(Array(5).fill(byUser[0]));
      expect(byUser[0]).toMatch(/^user:/);
    });

    it("is refused with the usual 429 when its messages pass the budget left, though the request alone would not", async () => {
      for (const [binding, who] of [
        ["RATE_LIMIT_USER", /^too many requests from this user;/],
        ["RATE_LIMIT_CLIENT", /^too many requests from this client/],
      ] as const) {
        const response = await postBatch(5, { [binding]: budgeted(4, []) });
        expect(response.status, binding).toBe(429);
        expect(response.headers.get("retry-after")).toBe("60");
        const body = (await response.json()) as { error: { code: number; message: string } };
        expect(body.error.code).toBe(-32000);
        expect(body.error.message).toMatch(who);
        expect((await postBatch(5, { [binding]: budgeted(5, []) })).status, binding).not.toBe(429);
      }
    });

    it("refused for its size (past 100 messages) costs one request, not its size", async () => {
      const counted: string[] = [];
      const response = await postBatch(101, { RATE_LIMIT_USER: recording(counted, true) });
      expect(response.status).toBe(400);
      expect(counted).toHaveLength(1);
    });
  });

  it("limits nothing where the bindings are not bound (local development)", async () => {
    const response = await call({ authorization: `Bearer ${accessToken}`, "cf-connecting-ip": "203.0.113.9" }, {});
    expect(response.status).toBe(503); // reached the relay; the origin is down in these tests
  });
});
