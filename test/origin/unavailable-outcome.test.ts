import { afterEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ANSWER_OUTCOME_HEADER } from "../../contract/answer-outcome.ts";
import { POLICY_DENIED_CODE } from "../../contract/config/policy.ts";
import { observeResponse } from "../../worker/mcp/observe-response.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";

// docs/audit.md: the origin's own refusals for an upstream it could not reach are audited `unavailable`; an
// upstream's own -32000 error stays `error`. The origin's real answer is read by the edge's real observer.
const pools: HostPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

const broken = { transport: "stdio" as const, command: "/nonexistent/mcp-server", args: [], env: {} };
const assertion: VerifiedAssertion = {
  sub: "alice",
  client_id: "test-client",
  server: "broken",
  purpose: "mcp",
  jti: "jti-1",
  exp: 0,
} as VerifiedAssertion;

async function audited(pool: HostPool) {
  const answer = await serveMcp(pool, "broken", assertion, modernRequest("tools/list", {}, { id: 1 }));
  const { observed } = await observeResponse(answer, 1, "tools/list");
  return { status: answer.status, ...(await observed) };
}

describe("the audit outcome of an upstream the origin could not reach", () => {
  it("is unavailable when the upstream cannot be started, and when its circuit is open", async () => {
    const pool = createHostPool({
      servers: { broken },
      idleTimeoutMs: 60_000,
      maxProcesses: 10,
      breaker: { failures: 1, openMs: 60_000 },
      host: testHostOptions,
      log: () => {},
    });
    pools.push(pool);
    expect(await audited(pool)).toMatchObject({ status: 503, outcome: "unavailable", errorCode: -32000 });
    // Refused at once by the open circuit.
    expect(await audited(pool)).toMatchObject({ status: 503, outcome: "unavailable", errorCode: -32000 });
  });

  it("stays error for an upstream's own -32000 error, which the origin labels", async () => {
    const own = Response.json(
      { jsonrpc: "2.0", id: 1, error: { code: -32000, message: "the upstream's own failure" } },
      { status: 200, headers: { [ANSWER_OUTCOME_HEADER]: "error -32000" } },
    );
    expect(await (await observeResponse(own, 1)).observed).toMatchObject({ outcome: "error", errorCode: -32000 });
    // Unlabelled (read from the body), at any status, an answer to the request itself is its own too.
    const unlabelled = Response.json({ jsonrpc: "2.0", id: 1, error: { code: -32000, message: "own" } }, { status: 503 });
    expect(await (await observeResponse(unlabelled, 1)).observed).toMatchObject({ outcome: "error", errorCode: -32000 });
  });

  it("keeps the origin's other refusals as they were: an unknown server is an error, a policy refusal denied", async () => {
    const notFound = Response.json(
      { jsonrpc: "2.0", id: null, error: { code: -32000, message: "unknown server" } },
      { status: 404 },
    );
    expect(await (await observeResponse(notFound, 1)).observed).toMatchObject({ outcome: "error", errorCode: -32000 });
    const policy = Response.json(
      { jsonrpc: "2.0", id: null, error: { code: POLICY_DENIED_CODE, message: "refused by policy" } },
      { status: 403 },
    );
    expect((await (await observeResponse(policy, 1)).observed).outcome).toBe("denied");
  });
});
