import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { Policy } from "../../contract/config/policy.ts";
import { DryRunRefusal, DryRunReport, OPS_DRY_RUN_PATH } from "../../contract/ops-trust.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { ADMIN_EMAIL, type OpsOrigin, opsOrigin, postJson } from "./ops-origin.ts";

// POST /ops/policy/dry-run against a real database: the CLI's evaluation, with the origin's own policy and servers.
let database: TestDatabase;
let origin: OpsOrigin;

const CURRENT: Policy = {
  rules: [{ effect: "allow", who: { everyone: true, groups: [], domains: [], emails: [] }, servers: ["github"] }],
};
const DENY_DELETE = {
  rules: [
    { effect: "allow", who: { everyone: true }, servers: ["github"] },
    { effect: "deny", who: { everyone: true }, servers: ["github"], tools: ["delete_*"], description: "no deletions" },
  ],
};

const calls = (count: number, tool: string): AuditEvent[] =>
  Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    time: new Date(Date.now() - 3_600_000 + index * 1000).toISOString(),
    kind: "mcp.request",
    method: "tools/call",
    userEmail: "ada@example.com",
    userSub: "sub-ada",
    server: "github",
    tool,
    outcome: "ok",
    latencyMs: 3,
  }));

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  await createAuditStore(database.pool).insert([...calls(3, "delete_repo"), ...calls(5, "search")]);
  origin = await opsOrigin(database, {
    policy: CURRENT,
    aggregate: { servers: ["github"], upstreamTimeoutMs: 1000, keepAliveMs: 1000 },
  });
});
afterAll(async () => {
  await database?.close();
});

const dryRun = (candidate: string, days = 7, claims?: Record<string, unknown>) =>
  origin.call(OPS_DRY_RUN_PATH, postJson({ candidate, days }), claims);

describe("POST /ops/policy/dry-run", () => {
  it("reports a known change: the candidate denies a tool the current policy allows, with its calls and rule", async () => {
    const response = await dryRun(JSON.stringify(DENY_DELETE));
    expect(response.status).toBe(200);
    const report = DryRunReport.parse(await response.json());
    expect(report).toMatchObject({ calls: 8, users: 1, candidate: "candidate", current: "this origin's policy" });
    expect(report.changes).toHaveLength(1);
    expect(report.changes[0]).toMatchObject({
      user: "ada@example.com",
      server: "github",
      tool: "delete_repo",
      direction: "allowed_to_denied",
      calls: 3,
    });
    expect(report.changes[0]?.candidate).toContain("no deletions");
    expect(report.toolsWithoutApprovedDefinition).toContainEqual({ server: "github", tool: "delete_repo" });
  });

  it("refuses a candidate that is not a policy, naming the key that is wrong", async () => {
    const cases: [string, RegExp][] = [
      ["{ not json", /^candidate: not JSON/],
      [
        JSON.stringify({ rules: [{ effect: "maybe", who: { everyone: true }, servers: ["github"] }] }),
        /^candidate: rules\.0\.effect: /,
      ],
      [JSON.stringify({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["gitlab"] }] }), /^candidate: .*gitlab/],
    ];
    for (const [candidate, problem] of cases) {
      const response = await dryRun(candidate);
      expect(response.status, candidate).toBe(400);
      const refusal = DryRunRefusal.parse(await response.json());
      expect(refusal.problems[0], candidate).toMatch(problem);
    }
    const badDays = await dryRun(JSON.stringify(DENY_DELETE), 0);
    expect(badDays.status).toBe(400);
    expect(await badDays.json()).toMatchObject({ problems: [expect.stringMatching(/^days: /)] });
  });

  it("refuses without an assertion (401) and with a purpose other than ops (403)", async () => {
    const bare = await origin.app.request(OPS_DRY_RUN_PATH, postJson({ candidate: "{}", days: 7 }));
    expect(bare.status).toBe(401);
    const mcp = await dryRun(JSON.stringify(DENY_DELETE), 7, { sub: "u", email: ADMIN_EMAIL, client_id: "c", purpose: "mcp" });
    expect(mcp.status).toBe(403);
    expect(await mcp.json()).toMatchObject({ reason: "purpose" });
  });
});
