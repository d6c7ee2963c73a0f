import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import { APPROVAL_INPUT_KEY, ApprovalGate } from "../../aws/origin/policy/approval-gate.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { Policy } from "../../contract/config/policy.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { withSharedReplayGuard } from "./database.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A call the user approved (policy require_approval) whose upstream then asks them to open a link (its -32042) goes on
// once they have opened it, without asking for approval again: the link round carries the approval, as the rounds of
// an upstream's own questions do. The approval still allows that one call, once.

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const servers = { raw: UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] }) };
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { everyone: true }, servers: ["raw"] },
    { description: "confirmed", effect: "require_approval", who: { everyone: true }, servers: ["raw"], tools: ["erronce"] },
  ],
});
const LINK = { mode: "url", message: "Connect your Acme account", url: "https://acme.example/connect", elicitationId: "e-9" };
const LINK_KEY = "mcp-edge/upstream-link/e-9";
const CLIENT = { elicitation: { form: {}, url: {} } };
const who = {
  sub: "ana",
  email: "ana@example.com",
  client_id: "c",
  server: "raw",
  purpose: "mcp",
  jti: "j",
  exp: 0,
} as VerifiedAssertion;

const audited: AuditEvent[] = [];
let singleUse: Awaited<ReturnType<typeof withSharedReplayGuard>>;
let pool: HostPool;
beforeAll(async () => {
  singleUse = await withSharedReplayGuard();
  const approvals = new ApprovalGate((event) => audited.push(event), singleUse.claim);
  pool = createHostPool({
    servers,
    idleTimeoutMs: 60_000,
    maxProcesses: 2,
    host: { ...testHostOptions, approvals },
    log: () => {},
  });
});
afterAll(async () => {
  await pool?.close();
  await singleUse?.close();
});

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string } };
async function call(params: Record<string, unknown>): Promise<Answer> {
  const response = await serveMcp(pool, "raw", who, modernRequest("tools/call", params, { capabilities: CLIENT }), policy);
  return ((await messagesOf(response)) as Answer[]).find((message) => "result" in message || "error" in message) as Answer;
}
const retry = (params: Record<string, unknown>, before: Answer, inputResponses: Record<string, unknown>) =>
  call({ ...params, inputResponses, requestState: before.result?.requestState });

describe("an approved call whose upstream then asks for a link", () => {
  it("is not asked for approval again once the link is opened, and runs once", async () => {
    const params = {
      name: "erronce",
      arguments: {
        key: "approved-then-link",
        error: JSON.stringify({ code: -32042, message: "open the link", data: { elicitations: [LINK] } }),
        text: '{"content":[{"type":"text","text":"connected"}]}',
      },
    };
    const asked = await call(params);
    expect(Object.keys((asked.result?.inputRequests ?? {}) as object)).toEqual([APPROVAL_INPUT_KEY]);
    const approve = { [APPROVAL_INPUT_KEY]: { action: "accept", content: { approve: true } } };
    const link = await retry(params, asked, approve);
    expect(Object.keys((link.result?.inputRequests ?? {}) as object)).toEqual([LINK_KEY]);

    const done = await retry(params, link, { [LINK_KEY]: { action: "accept" } });
    expect(done.error).toBeUndefined();
    expect(done.result?.content).toEqual([{ type: "text", text: "connected" }]);
    // The link round's continuation is single use, as the approval is.
    const again = await retry(params, link, { [LINK_KEY]: { action: "accept" } });
    expect(again.error?.message).toMatch(/was sent already; each approval allows one call/);
  });
});
