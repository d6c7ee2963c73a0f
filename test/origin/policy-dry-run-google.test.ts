import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import type { DryRunReport } from "../../aws/origin/policy/dry-run/dry-run.ts";
import type { FakeGoogle } from "../../local/fake-google/server.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";
import { AWS_KEY, googleConfigFor, startTestGoogle } from "./google-fake-setup.ts";
import { jsonFile, policyCli, workDir } from "./policy-dry-run-cli.ts";

// Audit events carry no groups: with the origin's Google configuration, the dry run asks the Directory through the
// origin's own look-up (real google-auth-library against the fake Google APIs over HTTP, the AWS keys from the
// child's environment as the AWS SDK's default chain reads them).

const engineersUseGithub = {
  effect: "allow",
  description: "engineers use github",
  who: { groups: ["engineering@example.com"] },
  servers: ["github"],
};
const searchIsDown = {
  effect: "deny",
  description: "search is down",
  who: { everyone: true },
  servers: ["github"],
  tools: ["search"],
};

describe("npm run policy -- dry-run with the origin's Google Workspace look-up", () => {
  let db: TestDatabase;
  let google: FakeGoogle;
  const dir = workDir();
  const run = (args: string[]) =>
    policyCli(["dry-run", ...args, "--format", "json"], {
      cwd: dir,
      env: { DATABASE_URL: db.url, AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey },
    });

  beforeAll(async () => {
    db = await withTestDatabase();
    await migrate(db.pool);
    await createAuditStore(db.pool).insert(
      [1, 2, 3].map((second) => ({
        id: randomUUID(),
        time: new Date(Date.now() - second * 1000).toISOString(),
        kind: "mcp.request" as const,
        userEmail: "ada@example.com",
        server: "github",
        method: "tools/call",
        tool: "search",
        outcome: "ok" as const,
        latencyMs: 2,
      })),
    );
    google = await startTestGoogle({ "ada@example.com": ["engineering@example.com"] });
    jsonFile(dir, "proxy.config.json", {
      origin: {
        servers: { github: { transport: "stdio", command: "github-mcp" } },
        policy: { rules: [engineersUseGithub] },
        google: googleConfigFor(google.url, { requestTimeoutSeconds: 2 }),
      },
    });
  });
  afterAll(async () => {
    await google?.close();
    await db?.close();
  });

  it("evaluates users with the groups the Directory lists", async () => {
    const candidate = jsonFile(dir, "candidate.json", { rules: [engineersUseGithub, searchIsDown] });
    const result = await run(["--candidate", candidate]);
    expect(result.code).toBe(4);
    const report = JSON.parse(result.stdout) as DryRunReport;
    expect(report.changes).toMatchObject([{ user: "ada@example.com", tool: "search", calls: 3, direction: "allowed_to_denied" }]);
    expect(report.usersWithoutGroups).toEqual([]);
    expect(google.requests.directory).toBeGreaterThan(0);
  });

  it("names the users whose look-up failed and evaluates them without the Directory's groups", async () => {
    google.outage("directory");
    try {
      const candidate = jsonFile(dir, "candidate.json", { rules: [engineersUseGithub, searchIsDown] });
      const result = await run(["--candidate", candidate]);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as DryRunReport;
      expect(report.groupLookUpFailures).toEqual([
        { user: "ada@example.com", error: expect.stringContaining("Google group look-up failed at the directory step") },
      ]);
      expect(report.usersWithoutGroups).toEqual(["ada@example.com"]);
    } finally {
      google.outage(undefined);
    }
  });
});
