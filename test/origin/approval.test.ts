import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { createForwardStateCodec } from "../../aws/origin/hosting/request-state.ts";
import { APPROVAL_INPUT_KEY, ApprovalGate } from "../../aws/origin/policy/approval-gate.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ANSWER_WITHIN_META_KEY } from "../../contract/answer-within.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { Policy } from "../../contract/config/policy.ts";
import type { StdioServer } from "../../contract/config/schema.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { withSharedReplayGuard } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// require_approval against a real upstream: the gateway asks the user before a destructive call reaches it, runs the
// call once per approval, and refuses a replay, changed arguments, a "no", and a client that cannot ask.
const callLog = join(mkdtempSync(join(tmpdir(), "approval-")), "calls.log");
const servers = {
  db: catalogServer({
    name: "db",
    callLog,
    tools: [
      { name: "drop_table", annotations: { destructiveHint: true } },
      { name: "truncate", annotations: { destructiveHint: true } },
      { name: "select", annotations: { readOnlyHint: true } },
    ],
  }),
};
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { everyone: true }, servers: ["db"] },
    {
      description: "destructive calls are confirmed",
      effect: "require_approval",
      who: { everyone: true },
      servers: ["*"],
      annotations: { destructiveHint: true },
    },
  ],
});
const audited: AuditEvent[] = [];
let singleUse: Awaited<ReturnType<typeof withSharedReplayGuard>>;
let pool: HostPool;
/** A second origin instance: its own children and gate, the same database and REQUEST_STATE_KEY. */
let otherInstance: HostPool;
const poolWith = (
  approvals: ApprovalGate,
  from: Record<string, StdioServer> = servers,
  stateCodec = testHostOptions.stateCodec,
) =>
  createHostPool({
    servers: from,
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: { ...testHostOptions, stateCodec, approvals },
    log: () => {},
  });
beforeAll(async () => {
  singleUse = await withSharedReplayGuard();
  pool = poolWith(new ApprovalGate((event) => audited.push(event), singleUse.claim));
  otherInstance = poolWith(new ApprovalGate((event) => audited.push(event), singleUse.claimElsewhere));
});
afterAll(async () => {
  await Promise.all([pool.close(), otherInstance.close()]);
  await singleUse.close();
});

const ELICITING = { elicitation: { form: {} } };
const who = {
  sub: "ana",
  email: "ana@example.com",
  client_id: "c",
  server: "db",
  purpose: "mcp",
  jti: "j",
  exp: 0,
} as VerifiedAssertion;
type Answer = {
  result?: {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params: { message: string } }>;
    requestState?: string;
    content?: { text: string }[];
    _meta?: Record<string, unknown>;
  };
  error?: { code: number; message: string };
};
async function call(
  params: Record<string, unknown>,
  capabilities: Record<string, unknown> = ELICITING,
  to = pool,
): Promise<Answer> {
  const response = await serveMcp(to, "db", who, modernRequest("tools/call", params, { capabilities }), policy);
  return ((await messagesOf(response)) as Answer[]).find((message) => message.result || message.error) as Answer;
}
const answered = (first: Answer, args: Record<string, unknown>, approve: boolean, action = "accept", to = pool) =>
  call(
    {
      name: "drop_table",
      arguments: args,
      inputResponses: { [APPROVAL_INPUT_KEY]: { action, content: { approve } } },
      requestState: first.result?.requestState,
    },
    ELICITING,
    to,
  );
const calls = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);
const approvalsAudited = () => audited.filter((event) => event.kind === "mcp.approval").map((event) => event.outcome);

describe("require_approval", () => {
  it("asks before a destructive call, in plain words, without reaching the upstream", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "users" } });
    expect(first.result?.resultType).toBe("input_required");
    const ask = first.result?.inputRequests?.[APPROVAL_INPUT_KEY];
    expect(ask?.method).toBe("elicitation/create");
    expect(ask?.params.message).toContain('Allow the tool "drop_table" on server "db" to run with these arguments?');
    expect(ask?.params.message).toContain('"text": "users"');
    expect(ask?.params.message).toContain('rule 2 ("destructive calls are confirmed")');
    expect(calls()).toEqual([]);
    // The answer is waited for as long as the requestState opens (this pool's: 60 s), the approval lasting longer;
    // the client is told 5 s less (its answer must still reach the origin in time).
    expect(first.result?._meta?.[ANSWER_WITHIN_META_KEY]).toBe(testHostOptions.stateCodec.ttlMs - 5_000);
  });

  it("tells how long the approval is waited for: five minutes less the margin, when the requestState would open longer", async () => {
    const hourLong = createForwardStateCodec("test-request-state-key-0123456789abcdef", 3600);
    const patient = poolWith(new ApprovalGate(() => {}, singleUse.claim), servers, hourLong);
    try {
      const first = await call({ name: "drop_table", arguments: { text: "users" } }, ELICITING, patient);
      expect(first.result?._meta?.[ANSWER_WITHIN_META_KEY]).toBe(5 * 60_000 - 5_000);
    } finally {
      await patient.close();
    }
  });

  it("runs the call once when approved, and refuses the same approval again", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "users" } });
    const approved = await answered(first, { text: "users" }, true);
    expect(approved.result?.content?.[0]?.text).toBe('drop_table on db: {"text":"users"}');
    expect(calls()).toEqual(["drop_table"]);
    const replay = await answered(first, { text: "users" }, true);
    expect(replay.error).toEqual({
      code: -32006,
      message: "not approved: this approval was used already; each approval allows one call",
    });
    expect(calls()).toEqual(["drop_table"]);
  });

  it("refuses an approval used for other arguments", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "users" } });
    const swapped = await answered(first, { text: "payments" }, true);
    expect(swapped.error?.message).toBe(
      "not approved: the arguments changed since the approval was asked for; call again to be asked about these",
    );
    expect(calls()).toEqual(["drop_table"]);
  });

  it("refuses when the user says no", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "users" } });
    expect((await answered(first, { text: "users" }, false)).error?.code).toBe(-32006);
    expect((await answered(await call({ name: "drop_table", arguments: {} }), {}, true, "decline")).error?.message).toBe(
      'not approved: you did not approve calling "drop_table" on server "db"; it was not run',
    );
    expect(calls()).toEqual(["drop_table"]);
  });

  it("fails closed for a client that cannot show prompts", async () => {
    const refused = await call({ name: "drop_table", arguments: {} }, {});
    expect(refused.error?.code).toBe(-32006);
    expect(refused.error?.message).toContain("this client cannot show prompts");
    expect(calls()).toEqual(["drop_table"]);
  });

  it("asks nothing for a call no rule marks, and audits every answer", async () => {
    expect((await call({ name: "select", arguments: {} }, {})).result?.content?.[0]?.text).toBe("select on db: {}");
    expect(approvalsAudited()).toEqual(["ok", "denied", "denied", "denied", "denied", "error"]);
    expect(audited.every((event) => event.userEmail === "ana@example.com" && event.tool === "drop_table")).toBe(true);
  });

  it("refuses another tool's call that brings this call's approval, without using the approval up or auditing it", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "orders" } });
    const auditedBefore = approvalsAudited().length;
    const elsewhere = await call({
      name: "truncate",
      arguments: { text: "orders" },
      inputResponses: { [APPROVAL_INPUT_KEY]: { action: "accept", content: { approve: true } } },
      requestState: first.result?.requestState,
    });
    expect(elsewhere.error).toEqual({ code: -32602, message: "requestState belongs to another request" });
    expect(approvalsAudited().length).toBe(auditedBefore);
    // Still this call's to answer (a "no" here, so that the upstream is not called: later tests count its calls).
    const declined = await answered(first, { text: "orders" }, true, "decline");
    expect(declined.error?.message).toBe('not approved: you did not approve calling "drop_table" on server "db"; it was not run');
  });

  it("refuses, without asking, a call whose arguments are more than a prompt shows: nothing is approved unseen", async () => {
    const padded = { text: `${" ".repeat(20_000)}AND ALSO payments` };
    const refused = await call({ name: "drop_table", arguments: padded });
    expect(refused.error?.code).toBe(-32006);
    expect(refused.error?.message).toMatch(
      /its arguments \(\d+ characters\) are more than a prompt shows \(20000\); it was not run$/,
    );
    expect(calls().filter((tool) => tool === "drop_table")).toHaveLength(1); // the earlier test's one call
  });

  it("refuses an approval used on one origin instance when it is sent again to another", async () => {
    const first = await call({ name: "drop_table", arguments: { text: "orders" } });
    expect((await answered(first, { text: "orders" }, true)).result?.content?.[0]?.text).toContain("orders");
    const ran = calls().length;
    const elsewhere = await answered(first, { text: "orders" }, true, "accept", otherInstance);
    expect(elsewhere.error?.message).toBe("not approved: this approval was used already; each approval allows one call");
    expect(calls().length).toBe(ran);
  });
});

// The later rounds of an approved call (its upstream asked the client for something) continue that call, once, with
// the approved arguments: a continuation is no standing approval, whichever era the upstream speaks.
describe("require_approval: the later rounds of an approved call", () => {
  const fixtures = {
    modern: { transport: "stdio", env: {}, ...stdioFixtureCommand("dual") },
    legacy: { transport: "stdio", env: {}, ...stdioFixtureCommand("legacy") },
  } satisfies Record<string, StdioServer>;
  const gateEverything = Policy.parse({
    rules: [
      { effect: "allow", who: { everyone: true }, servers: ["*"] },
      { effect: "require_approval", who: { everyone: true }, servers: ["*"], annotations: { destructiveHint: true } },
    ],
  });
  const gateAudit: AuditEvent[] = [];
  let fixturePool: HostPool;
  let otherFixturePool: HostPool;
  beforeAll(() => {
    fixturePool = poolWith(new ApprovalGate((event) => gateAudit.push(event), singleUse.claim), fixtures);
    otherFixturePool = poolWith(new ApprovalGate((event) => gateAudit.push(event), singleUse.claimElsewhere), fixtures);
  });
  afterAll(() => Promise.all([fixturePool.close(), otherFixturePool.close()]));

  const CLIENT = { elicitation: { form: {} }, sampling: {} };
  async function send(server: string, params: Record<string, unknown>, policy = gateEverything, to = fixturePool) {
    const request = modernRequest("tools/call", params, { capabilities: CLIENT });
    const response = await serveMcp(to, server, { ...who, server }, request, policy);
    return ((await messagesOf(response)) as Answer[]).find((message) => message.result || message.error) as Answer;
  }
  /** The tool called, approved, and answered up to its upstream's own question: the state that continues it. */
  async function approvedUntilAsked(server: string, name: string, args: Record<string, unknown>): Promise<string> {
    const asked = await send(server, { name, arguments: args });
    expect(Object.keys(asked.result?.inputRequests ?? {})).toEqual([APPROVAL_INPUT_KEY]);
    const approval = { [APPROVAL_INPUT_KEY]: { action: "accept", content: { approve: true } } };
    const approved = await send(server, {
      name,
      arguments: args,
      inputResponses: approval,
      requestState: asked.result?.requestState,
    });
    expect(approved.result?.resultType).toBe("input_required");
    expect(Object.keys(approved.result?.inputRequests ?? {})).not.toContain(APPROVAL_INPUT_KEY);
    return approved.result?.requestState as string;
  }

  it("2026-07-28 upstream: the continuation completes the call once; its replay is refused", async () => {
    const tool = "test_input_required_result_request_state";
    const state = await approvedUntilAsked("modern", tool, {});
    const confirm = { confirm: { action: "accept", content: { confirmed: true } } };
    const done = await send("modern", { name: tool, arguments: {}, requestState: state, inputResponses: confirm });
    expect(done.result?.content?.[0]?.text).toContain("state-ok");
    const replay = await send("modern", { name: tool, arguments: {}, requestState: state, inputResponses: confirm });
    const refusal = {
      code: -32006,
      message: "not approved: this round of the approved call was sent already; each approval allows one call",
    };
    expect(replay.error).toEqual(refusal);
    const params = { name: tool, arguments: {}, requestState: state, inputResponses: confirm };
    expect((await send("modern", params, gateEverything, otherFixturePool)).error).toEqual(refusal);
  });

  it("2026-07-28 upstream: a continuation with other arguments is refused", async () => {
    const tool = "test_input_required_result_request_state";
    const state = await approvedUntilAsked("modern", tool, {});
    const confirm = { confirm: { action: "accept", content: { confirmed: true } } };
    const swapped = await send("modern", {
      name: tool,
      arguments: { table: "payments" },
      requestState: state,
      inputResponses: confirm,
    });
    expect(swapped.error?.message).toBe(
      "not approved: the arguments changed since the approval was given; call again to be asked about these",
    );
  });

  it("2025-era upstream (a parked call): other arguments are refused, the approved ones complete it", async () => {
    const state = await approvedUntilAsked("legacy", "test_elicitation", { message: "Proceed?" });
    const answer = Object.fromEntries([["r1", { action: "accept", content: { response: "yes" } }]]);
    const swapped = await send("legacy", {
      name: "test_elicitation",
      arguments: { message: "Something else?" },
      requestState: state,
      inputResponses: answer,
    });
    expect(swapped.error?.code).toBe(-32006);
    const done = await send("legacy", {
      name: "test_elicitation",
      arguments: { message: "Proceed?" },
      requestState: state,
      inputResponses: answer,
    });
    expect(done.result?.content?.[0]?.text).toBeDefined();
    expect(done.error).toBeUndefined();
  });

  it("refuses a later round of a call begun before the policy asked for approval (it carries no approval)", async () => {
    const allowEverything = Policy.parse({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["*"] }] });
    const tool = "test_input_required_result_request_state";
    const asked = await send("modern", { name: tool, arguments: {} }, allowEverything);
    expect(Object.keys(asked.result?.inputRequests ?? {})).toEqual(["confirm"]);
    const confirm = { confirm: { action: "accept", content: { confirmed: true } } };
    const later = await send("modern", {
      name: tool,
      arguments: {},
      requestState: asked.result?.requestState,
      inputResponses: confirm,
    });
    expect(later.error).toEqual({
      code: -32006,
      message: "not approved: this continues a call that was not approved (the policy changed since); call again to be asked",
    });
  });

  it("audits one approval per call", () => {
    const outcomes = gateAudit.filter((event) => event.kind === "mcp.approval").map((event) => event.outcome);
    expect(outcomes.filter((outcome) => outcome === "ok")).toHaveLength(3);
  });
});
