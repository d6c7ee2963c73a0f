import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuardrailChain } from "../../aws/origin/guardrails/chain.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { APPROVAL_INPUT_KEY, ApprovalGate } from "../../aws/origin/policy/approval-gate.ts";
import { CallLimitRefusal, CallLimits } from "../../aws/origin/policy/call-limits.ts";
import type { LimitingRule } from "../../aws/origin/policy/user-policy.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { Policy } from "../../contract/config/policy.ts";
import type { StdioServer } from "../../contract/config/schema.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { withSharedReplayGuard } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// `limit` rules: how often each user may call what a rule covers, counted in the origin instance that serves them.

let singleUse: Awaited<ReturnType<typeof withSharedReplayGuard>>;
beforeAll(async () => {
  singleUse = await withSharedReplayGuard();
});
afterAll(() => singleUse.close());

const rule = (index: number, calls: number, seconds: number): LimitingRule => ({
  index,
  label: `rule ${index + 1}`,
  calls,
  seconds,
});

/** The seconds to wait that a refusal names, or "admitted". */
function attempt(limits: CallLimits, user: string, rules: LimitingRule[]): number | "admitted" {
  try {
    limits.take(user, rules);
    return "admitted";
  } catch (error) {
    if (!(error instanceof CallLimitRefusal)) throw error;
    expect(error.code).toBe(-32008);
    return (error.data as { retryAfterSeconds: number }).retryAfterSeconds;
  }
}

describe("the budget of a limit rule", () => {
  it("admits `calls` calls at once, then one every `seconds / calls`, and says how long to wait", () => {
    let now = 1_000_000;
    const limits = new CallLimits(singleUse.claim, () => now);
    const threePerMinute = [rule(0, 3, 60)];
    expect([1, 2, 3].map(() => attempt(limits, "ana", threePerMinute))).toEqual(["admitted", "admitted", "admitted"]);
    expect(attempt(limits, "ana", threePerMinute)).toBe(20);
    now += 19_000;
    expect(attempt(limits, "ana", threePerMinute)).toBe(1);
    now += 1_000;
    expect(attempt(limits, "ana", threePerMinute)).toBe("admitted");
    expect(attempt(limits, "ana", threePerMinute)).toBe(20);
    now += 60_000;
    expect([1, 2, 3].map(() => attempt(limits, "ana", threePerMinute))).toEqual(["admitted", "admitted", "admitted"]);
  });

  it("keeps each user's budget, and each rule's, apart", () => {
    const limits = new CallLimits(singleUse.claim, () => 0);
    expect(attempt(limits, "ana", [rule(0, 1, 60)])).toBe("admitted");
    expect(attempt(limits, "ana", [rule(0, 1, 60)])).toBe(60);
    expect(attempt(limits, "bob", [rule(0, 1, 60)])).toBe("admitted");
    expect(attempt(limits, "ana", [rule(1, 1, 60)])).toBe("admitted");
  });

  it("spends nothing when one of a call's rules refuses it, nor when only checked", () => {
    const limits = new CallLimits(singleUse.claim, () => 0);
    const roomy = rule(0, 2, 60);
    const tight = rule(1, 1, 60);
    expect(attempt(limits, "ana", [tight])).toBe("admitted");
    expect(attempt(limits, "ana", [roomy, tight])).toBe(60);
    expect(() => limits.check("ana", [roomy])).not.toThrow();
    expect([attempt(limits, "ana", [roomy]), attempt(limits, "ana", [roomy])]).toEqual(["admitted", "admitted"]);
    expect(() => limits.check("ana", [roomy])).toThrow(CallLimitRefusal);
  });

  it("lets each later round of a counted call through once for free, whichever origin instance it reaches", async () => {
    const limits = new CallLimits(singleUse.claim);
    const otherInstance = new CallLimits(singleUse.claimElsewhere);
    const rounds = [limits.continues("n1"), limits.continues("n1"), otherInstance.continues("n1"), otherInstance.continues("n2")];
    expect(await Promise.all(rounds)).toEqual([true, false, false, true]);
    expect(await limits.continues(undefined)).toBe(false);
  });

  it("names the rule, its budget and the wait in the refusal", () => {
    const limits = new CallLimits(singleUse.claim, () => 0);
    limits.take("ana", [{ ...rule(4, 1, 3600), label: 'rule 5 ("one export an hour")' }]);
    expect(() => limits.take("ana", [{ ...rule(4, 1, 3600), label: 'rule 5 ("one export an hour")' }])).toThrow(
      'refused by policy: rule 5 ("one export an hour") allows you 1 call in 3600 seconds; try again in 3600 seconds',
    );
  });
});

describe("a limit rule in the policy", () => {
  const limitRule = { effect: "limit", who: { everyone: true }, servers: ["db"] };
  it("needs its limit, and only a limit rule takes one", () => {
    expect(Policy.safeParse({ rules: [{ ...limitRule, limit: { calls: 10, seconds: 60 } }] }).success).toBe(true);
    for (const wrong of [
      limitRule,
      { ...limitRule, effect: "allow", limit: { calls: 10, seconds: 60 } },
      { ...limitRule, limit: { calls: 0, seconds: 60 } },
      { ...limitRule, limit: { calls: 10, seconds: 0 } },
      { ...limitRule, limit: { calls: 10 } },
      { ...limitRule, limit: { calls: 10, seconds: 60, per: "tool" } },
    ]) {
      expect(Policy.safeParse({ rules: [wrong] }).success, JSON.stringify(wrong)).toBe(false);
    }
    const missing = Policy.safeParse({ rules: [limitRule] });
    expect(missing.error?.issues[0]?.message).toBe(
      'a rule with "effect": "limit" needs "limit": { "calls": N, "seconds": S }, and no other rule takes one',
    );
  });
});

describe("limit rules at the origin's per-server endpoint", () => {
  const callLog = join(mkdtempSync(join(tmpdir(), "call-limits-")), "calls.log");
  const servers = {
    db: catalogServer({
      name: "db",
      callLog,
      tools: [
        { name: "export", annotations: { readOnlyHint: true } },
        { name: "select", annotations: { readOnlyHint: true } },
        { name: "drop_table", annotations: { destructiveHint: true } },
      ],
    }),
  };
  const policy = Policy.parse({
    rules: [
      { effect: "allow", who: { everyone: true }, servers: ["db"] },
      {
        description: "two exports a day",
        effect: "limit",
        who: { everyone: true },
        servers: ["db"],
        tools: ["export"],
        limit: { calls: 2, seconds: 86_400 },
      },
      {
        description: "one drop a day",
        effect: "limit",
        who: { everyone: true },
        servers: ["db"],
        tools: ["drop_table"],
        limit: { calls: 1, seconds: 86_400 },
      },
      { effect: "require_approval", who: { everyone: true }, servers: ["db"], tools: ["drop_table"] },
    ],
  });
  let pool: HostPool;
  beforeAll(() => {
    pool = createHostPool({
      servers,
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: {
        ...testHostOptions,
        approvals: new ApprovalGate(() => {}, singleUse.claim),
        callLimits: new CallLimits(singleUse.claim),
        guardrailsOf: () => new GuardrailChain([{ hook: "deny-patterns", patterns: ["forbidden"] }]),
      },
      log: () => {},
    });
  });
  afterAll(() => pool.close());

  const userNamed = (sub: string) =>
    ({ sub, email: `${sub}@example.com`, client_id: "c", server: "db", purpose: "mcp", jti: sub, exp: 0 }) as VerifiedAssertion;
  type Answer = {
    result?: { resultType?: string; requestState?: string; content?: { text: string }[] };
    error?: { code: number; message: string; data?: { retryAfterSeconds?: number } };
  };
  const call = async (user: string, params: Record<string, unknown>) => {
    const request = modernRequest("tools/call", params, { capabilities: { elicitation: { form: {} } } });
    const response = await serveMcp(pool, "db", userNamed(user), request, policy);
    return ((await messagesOf(response)) as Answer[]).find((message) => message.result || message.error) as Answer;
  };
  const calls = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);

  it("refuses a user's call past the rule's budget before it reaches the upstream; other tools and users are not counted", async () => {
    for (let i = 0; i < 2; i++) expect((await call("ana", { name: "export", arguments: {} })).result?.content).toBeDefined();
    const refused = await call("ana", { name: "export", arguments: {} });
    expect(refused.error?.code).toBe(-32008);
    expect(refused.error?.message).toMatch(
      /^refused by policy: rule 2 \("two exports a day"\) allows you 2 calls in 86400 seconds; try again in 4320\d seconds$/,
    );
    expect(refused.error?.data?.retryAfterSeconds).toBeGreaterThan(43_000);
    expect((await call("ana", { name: "select", arguments: {} })).result?.content).toBeDefined();
    expect((await call("bob", { name: "export", arguments: {} })).result?.content).toBeDefined();
    expect(calls()).toEqual(["export", "export", "select", "export"]);
  });

  it("counts no call a guardrail refuses, and asks nobody to approve one", async () => {
    expect((await call("gus", { name: "export", arguments: { text: "forbidden" } })).error?.code).toBe(-32005);
    for (let i = 0; i < 2; i++) expect((await call("gus", { name: "export", arguments: {} })).result?.content).toBeDefined();
    expect((await call("gus", { name: "export", arguments: {} })).error?.code).toBe(-32008);
    const refused = await call("gus", { name: "drop_table", arguments: { text: "forbidden" } });
    expect(refused.error?.code).toBe(-32005);
    expect(refused.result?.resultType).toBeUndefined();
  });

  it("counts an approved call once, not the round that asks; past the budget, nobody is asked", async () => {
    const args = { text: "users" };
    const first = await call("cy", { name: "drop_table", arguments: args });
    expect(first.result?.resultType).toBe("input_required");
    const approved = await call("cy", {
      name: "drop_table",
      arguments: args,
      inputResponses: { [APPROVAL_INPUT_KEY]: { action: "accept", content: { approve: true } } },
      requestState: first.result?.requestState,
    });
    expect(approved.result?.content?.[0]?.text).toContain("drop_table on db");
    const again = await call("cy", { name: "drop_table", arguments: args });
    expect(again.error?.code).toBe(-32008);
    expect(calls().filter((name) => name === "drop_table")).toEqual(["drop_table"]);
  });
});

// A call whose upstream asks the client something takes several rounds; it is one call against the budget, whichever
// era the upstream speaks (a 2025-era call parked at the origin, or a 2026-07-28 upstream's own requestState).
describe("limit rules and calls that take several rounds", () => {
  const fixtures = {
    modern: { transport: "stdio", env: {}, ...stdioFixtureCommand("dual") },
    legacy: { transport: "stdio", env: {}, ...stdioFixtureCommand("legacy") },
  } satisfies Record<string, StdioServer>;
  const oncePerDay = Policy.parse({
    rules: [
      { effect: "allow", who: { everyone: true }, servers: ["*"] },
      { effect: "limit", who: { everyone: true }, servers: ["*"], limit: { calls: 1, seconds: 86_400 } },
    ],
  });
  const poolWith = (claimOnce: typeof singleUse.claim) =>
    createHostPool({
      servers: fixtures,
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: { ...testHostOptions, callLimits: new CallLimits(claimOnce) },
      log: () => {},
    });
  let pool: HostPool;
  /** A second origin instance: its own budgets, the same database and REQUEST_STATE_KEY. */
  let otherInstance: HostPool;
  beforeAll(() => {
    pool = poolWith(singleUse.claim);
    otherInstance = poolWith(singleUse.claimElsewhere);
  });
  afterAll(() => Promise.all([pool.close(), otherInstance.close()]));

  type Round = { result?: { resultType?: string; requestState?: string; content?: unknown[] }; error?: { code: number } };
  const send = async (server: string, user: string, params: Record<string, unknown>, to = pool): Promise<Round> => {
    const request = modernRequest("tools/call", params, { capabilities: { elicitation: { form: {} }, sampling: {} } });
    const assertion = { sub: user, client_id: "c", server, purpose: "mcp", jti: user, exp: 0 } as VerifiedAssertion;
    const response = await serveMcp(to, server, assertion, request, oncePerDay);
    return ((await messagesOf(response)) as Round[]).find((message) => message.result || message.error) as Round;
  };

  it.each([
    ["legacy", "test_elicitation", { message: "Proceed?" }, { r1: { action: "accept", content: { response: "yes" } } }],
    ["modern", "test_input_required_result_request_state", {}, { confirm: { action: "accept", content: { confirmed: true } } }],
  ])("%s upstream: the later round completes the call, the next call is refused", async (server, name, args, answers) => {
    const user = `dee-${server}`;
    const first = await send(server, user, { name, arguments: args });
    expect(first.result?.resultType).toBe("input_required");
    const done = await send(server, user, {
      name,
      arguments: args,
      requestState: first.result?.requestState,
      inputResponses: answers,
    });
    expect(done.error).toBeUndefined();
    expect(done.result?.content).toBeDefined();
    expect((await send(server, user, { name, arguments: args })).error?.code).toBe(-32008);
  });

  it("counts a modern upstream's later round sent again as a new call (a replay runs the tool again)", async () => {
    const user = "eve-replays";
    const name = "test_input_required_result_request_state";
    const answers = { confirm: { action: "accept", content: { confirmed: true } } };
    const first = await send("modern", user, { name, arguments: {} });
    const retry = { name, arguments: {}, requestState: first.result?.requestState, inputResponses: answers };
    expect((await send("modern", user, retry)).result?.content).toBeDefined();
    const replayed = await send("modern", user, retry);
    expect(replayed.error?.code).toBe(-32008);
    expect(replayed.result).toBeUndefined();
  });

  it("counts a later round sent again to another origin instance as a call there, not a free round", async () => {
    const user = "fay-moves";
    const name = "test_input_required_result_request_state";
    const answers = { confirm: { action: "accept", content: { confirmed: true } } };
    const first = await send("modern", user, { name, arguments: {} });
    const retry = { name, arguments: {}, requestState: first.result?.requestState, inputResponses: answers };
    expect((await send("modern", user, retry)).result?.content).toBeDefined();
    // The other instance counts afresh (budgets are per instance): the replay is admitted there as its one call
    // (what the upstream then makes of it is its own affair: this fixture's state opens only in the child that
    // minted it), and so the user's next call there is refused.
    await send("modern", user, retry, otherInstance);
    expect((await send("modern", user, { name, arguments: {} }, otherInstance)).error?.code).toBe(-32008);
  });
});
