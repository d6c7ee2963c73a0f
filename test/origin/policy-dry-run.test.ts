import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publicName } from "../../aws/origin/aggregate/public-names.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { createPinStore } from "../../aws/origin/pinning/pin-store.ts";
import type { DryRunReport } from "../../aws/origin/policy/dry-run/dry-run.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { PolicyRule } from "../../contract/config/policy.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { jsonFile, policyCli, workDir } from "./policy-dry-run-cli.ts";

// The dry run as an administrator runs it: the CLI in a child process against a database holding audit events and
// approved tool definitions, so every step (events, groups, annotations, names, evaluation, report) is the real one.

const DAY = 86_400_000;
const now = Date.now();
const LONG_PINNED = "export_all_repositories_of_the_organisation_with_every_branch_and_tag";
const LONG_UNKNOWN = "export_every_issue_of_the_organisation_with_its_comments_and_history";

const calls = (count: number, fields: Partial<AuditEvent>, daysAgo = 1): AuditEvent[] =>
  Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    time: new Date(now - daysAgo * DAY + index * 1000).toISOString(),
    kind: "mcp.request",
    method: "tools/call",
    outcome: "ok",
    latencyMs: 3,
    ...fields,
  }));

const ada = { userEmail: "ada@example.com", userSub: "sub-ada" };
const cy = { userEmail: "cy@contractor.example", userSub: "sub-cy" };
const dee = { userEmail: "dee@partner.example", userSub: "sub-dee" };

const events = [
  ...calls(3, { ...ada, server: "github", tool: "delete_repo" }),
  ...calls(5, { ...ada, server: "github", tool: "search" }),
  ...calls(2, { ...ada, server: "github", tool: "merge_pr" }),
  // Outside a 7-day window: never counted.
  ...calls(9, { ...ada, server: "github", tool: "delete_repo" }, 10),
  // Through the aggregated endpoint, and once through the server's own.
  ...calls(4, { ...cy, server: "github", tool: "github__create_issue" }),
  ...calls(1, { ...cy, server: "github", tool: "create_issue" }),
  ...calls(2, { ...cy, server: "github", tool: publicName("github", LONG_PINNED) }),
  ...calls(1, { ...cy, server: "github", tool: publicName("github", LONG_UNKNOWN) }),
  // Refused today: no rule lets a partner use docs.
  ...calls(2, { ...dee, server: "docs", tool: "read", outcome: "denied", errorCode: -32003 }),
  // Not tool calls: never evaluated.
  ...calls(6, { ...ada, server: "github", method: "tools/list" }),
  // The tool column also names prompts and resources: a prompt named like a tool is not a call of that tool.
  ...calls(7, { ...ada, server: "github", method: "prompts/get", tool: "delete_repo" }),
  ...calls(1, { ...ada, server: "github", method: "resources/read", tool: "repo://github/ada/secrets" }),
  // A 2026-07-28 round that only asked the user: the call's own row (counted above) follows it.
  ...calls(3, { ...ada, server: "github", tool: "delete_repo", outcome: "input_required" }),
  ...calls(1, { ...ada, kind: "auth.sign_in" }),
];

const approvedTools: [string, Record<string, unknown>][] = [
  ["delete_repo", { destructiveHint: true }],
  ["search", { readOnlyHint: true }],
  ["create_issue", { readOnlyHint: false, destructiveHint: false }],
  [LONG_PINNED, { readOnlyHint: true }],
];

const currentRules: PolicyRule[] = [
  {
    effect: "allow",
    description: "engineers use github",
    who: { groups: ["engineering@example.com"], domains: [], emails: [], everyone: false },
    servers: ["github"],
  },
  {
    effect: "allow",
    description: "the company reads docs",
    who: { groups: [], domains: ["example.com"], emails: [], everyone: false },
    servers: ["docs"],
  },
  {
    effect: "allow",
    description: "the contractor files issues",
    who: { groups: [], domains: [], emails: ["cy@contractor.example"], everyone: false },
    servers: ["github"],
  },
];
const withRule = (rule: Omit<PolicyRule, "who"> & { who: Partial<PolicyRule["who"]> }) => ({
  rules: [...currentRules, { ...rule, who: { groups: [], domains: [], emails: [], everyone: false, ...rule.who } }],
});

describe("npm run policy -- dry-run", () => {
  let db: TestDatabase;
  const dir = workDir();
  const current = jsonFile(dir, "current.json", { rules: currentRules });
  const groups = jsonFile(dir, "groups.json", { "Ada@Example.com": ["engineering@example.com"] });
  const config = jsonFile(dir, "proxy.config.json", {
    origin: {
      servers: { github: { transport: "stdio", command: "github-mcp" }, docs: { transport: "stdio", command: "docs-mcp" } },
      policy: { rules: currentRules },
    },
  });
  const noDestructiveTools = () =>
    jsonFile(
      dir,
      "no-destructive.json",
      withRule({
        effect: "deny",
        description: "no destructive tools",
        who: { everyone: true },
        servers: ["github"],
        annotations: { destructiveHint: true },
      }),
    );
  const run = (args: string[], env: Record<string, string> = {}) =>
    policyCli(["dry-run", ...args], { cwd: dir, env: { DATABASE_URL: db.url, ...env } });

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
    await createAuditStore(db.pool).insert(events);
    const pins = createPinStore(db.pool);
    for (const [name, annotations] of approvedTools) {
      await pins.record(
        { server: "github", kind: "tool", name, fingerprint: `fp-${name}`, definition: { name, annotations } },
        "approved",
      );
    }
  });
  afterAll(async () => {
    await db?.close();
  });

  it("reports a candidate that denies a tool a user called, with the calls and the rule that decides", async () => {
    const candidate = noDestructiveTools();
    const result = await run(["--candidate", candidate, "--current", current, "--groups", groups]);
    expect(result.code).toBe(4);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe("policy dry run: 2 decisions would change for 1 user: 2 allowed → denied (5 calls)");
    expect(result.stdout).toContain("evaluated 19 calls by 3 users");
    const row = lines.find((line) => line.startsWith("ada@example.com") && line.includes("delete_repo"));
    expect(row).toMatch(
      /ada@example\.com\s+github\s+delete_repo\s+3\s+allowed by policy rule 1 \("engineers use github"\)\s+tool "delete_repo" is denied to you by policy rule 4 \("no destructive tools"\)$/,
    );
    // merge_pr has no approved definition: it counts as destructive, and the report says why.
    expect(lines.find((line) => line.includes("merge_pr *"))).toMatch(/\s2\s/);
    expect(result.stdout).toContain("* no approved definition: evaluated with the specification's default annotations");
    expect(result.stdout).toMatch(
      /Tools without an approved definition \(evaluated with default annotations\) \(2\):\n {2}docs {2}read\n {2}github {2}merge_pr\n/,
    );
  });

  it("takes annotations from the approved definitions: a read-only or non-destructive tool is not caught", async () => {
    const candidate = noDestructiveTools();
    const result = await run(["--candidate", candidate, "--current", current, "--groups", groups, "--format", "json"]);
    const report = JSON.parse(result.stdout) as DryRunReport;
    expect(report.changes.map(({ user, tool, approvedDefinition }) => ({ user, tool, approvedDefinition }))).toEqual([
      { user: "ada@example.com", tool: "delete_repo", approvedDefinition: true },
      { user: "ada@example.com", tool: "merge_pr", approvedDefinition: false },
    ]);
  });

  it("reports a candidate that allows a call denied today, from the configuration's policy", async () => {
    const candidate = jsonFile(
      dir,
      "partners-read.json",
      withRule({ effect: "allow", description: "partners read docs", who: { domains: ["partner.example"] }, servers: ["docs"] }),
    );
    const result = await run(["--candidate", candidate, "--groups", groups, "--format", "json"], { MCP_PROXY_CONFIG: config });
    expect(result.code).toBe(4);
    const report = JSON.parse(result.stdout) as DryRunReport;
    expect(report.current).toBe(config);
    const text = await run(["--candidate", candidate, "--groups", groups], { MCP_PROXY_CONFIG: config });
    expect(text.stdout.split("\n")[0]).toBe("policy dry run: 1 decision would change for 1 user: 1 denied → allowed (2 calls)");
    expect(text.stdout).toContain("Denied now, allowed by the candidate (1 decision, 2 calls)");
    expect(report.changes).toEqual([
      {
        user: "dee@partner.example",
        server: "docs",
        tool: "read",
        direction: "denied_to_allowed",
        calls: 2,
        current: 'no policy rule allows you to use server "docs"',
        candidate: 'allowed by policy rule 4 ("partners read docs")',
        approvedDefinition: false,
      },
    ]);
  });

  it("reports a candidate that makes a called tool ask for the user's confirmation", async () => {
    const confirming: PolicyRule = {
      effect: "require_approval",
      description: "destructive calls are confirmed",
      who: { groups: [], domains: [], emails: [], everyone: true },
      servers: ["github"],
      annotations: { destructiveHint: true },
    };
    const candidate = jsonFile(dir, "confirming.json", { rules: [...currentRules, confirming] });
    const result = await run(["--candidate", candidate, "--current", current, "--groups", groups, "--format", "json"]);
    expect(result.code).toBe(4);
    const report = JSON.parse(result.stdout) as DryRunReport;
    const change = report.changes.find((entry) => entry.tool === "delete_repo");
    expect(change).toMatchObject({ user: "ada@example.com", direction: "allowed_to_approval", calls: 3 });
    expect(change?.candidate).toBe(
      'allowed by policy rule 1 ("engineers use github"), each call confirmed by the user (rule 4 ("destructive calls are confirmed"))',
    );
    const text = await run(["--candidate", candidate, "--current", current, "--groups", groups]);
    expect(text.stdout).toContain("Allowed now, to be confirmed by the user with the candidate");
  });

  it("reports nothing and exits 0 when no decision changes", async () => {
    const result = await run(["--candidate", config, "--current", current, "--groups", groups]);
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe("policy dry run: no decision would change");
    expect(result.stderr).toContain("policy: read day 7 of 7: 20 calls so far");
  });

  it("maps aggregated names back to the upstream's, through approved definitions past 64 characters", async () => {
    const candidate = jsonFile(
      dir,
      "contractor.json",
      withRule({
        effect: "deny",
        description: "contractors neither file nor export",
        who: { emails: ["cy@contractor.example"] },
        servers: ["github"],
        tools: ["create_issue", "export_*"],
      }),
    );
    const result = await run(["--candidate", candidate, "--current", current, "--format", "json"]);
    const report = JSON.parse(result.stdout) as DryRunReport;
    expect(report.changes.map(({ user, tool, calls }) => ({ user, tool, calls }))).toEqual([
      { user: "cy@contractor.example", tool: "create_issue", calls: 5 },
      { user: "cy@contractor.example", tool: LONG_PINNED, calls: 2 },
    ]);
    expect(report.unresolved).toEqual([
      { user: "cy@contractor.example", server: "github", tool: publicName("github", LONG_UNKNOWN), calls: 1 },
    ]);
    const text = await run(["--candidate", candidate, "--current", current]);
    expect(text.stdout).toContain(`cy@contractor.example  github  ${publicName("github", LONG_UNKNOWN)}  1 call  unresolved`);
  });

  it("evaluates users with the groups of --groups, and names those with none", async () => {
    const candidate = jsonFile(
      dir,
      "no-search.json",
      withRule({
        effect: "deny",
        description: "search is down",
        who: { everyone: true },
        servers: ["github"],
        tools: ["search"],
      }),
    );
    const withGroups = JSON.parse(
      (await run(["--candidate", candidate, "--current", current, "--groups", groups, "--format", "json"])).stdout,
    ) as DryRunReport;
    expect(withGroups.changes.map(({ user, tool, calls }) => ({ user, tool, calls }))).toEqual([
      { user: "ada@example.com", tool: "search", calls: 5 },
    ]);
    expect(withGroups.usersWithoutGroups).toEqual(["cy@contractor.example", "dee@partner.example"]);

    // Without her group, ada may not use github today either: nothing changes for her.
    const without = await run(["--candidate", candidate, "--current", current]);
    expect(without.code).toBe(0);
    expect(without.stdout).toContain(
      "Users evaluated without groups (neither --groups nor the Directory knew one) (3):\n  ada@example.com\n",
    );
  });
});
