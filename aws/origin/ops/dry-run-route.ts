import type { Hono, MiddlewareHandler } from "hono";
import type pg from "pg";
import { Policy } from "../../../contract/config/policy.ts";
import { type DryRunReport, DryRunRequest, OPS_DRY_RUN_PATH } from "../../../contract/ops-trust.ts";
import type { GroupLookUp } from "../identity/google/google-groups.ts";
import { dryRun } from "../policy/dry-run/dry-run.ts";
import { checkServerPatterns, PolicyFileError, type PolicySource, validated } from "../policy/dry-run/policy-file.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { opsOnly } from "./ops-only.ts";

type OriginEnv = { Variables: AssertionVariables };

export interface OpsDryRunParts {
  db: pg.Pool | undefined;
  /** This origin's policy, the one the candidate is compared with. */
  policy: Policy | undefined;
  /** The configured servers' names: the candidate's server patterns must match them, as at start. */
  servers: readonly string[] | undefined;
  directory: GroupLookUp | undefined;
}

/** How the page's candidate is named in problems and in the report. */
const CANDIDATE = "candidate";

/**
 * `POST /ops/policy/dry-run`: the dry run of `npm run policy -- dry-run` for /ops, against this origin's own policy,
 * servers and Directory look-up. A candidate that is not a valid policy is refused (400) with one line per problem,
 * each naming the key. Without a database, no route.
 */
export function registerOpsDryRunRoute(app: Hono<OriginEnv>, guarded: MiddlewareHandler<OriginEnv>, parts: OpsDryRunParts): void {
  const { db } = parts;
  if (!db) return;
  app.post(OPS_DRY_RUN_PATH, guarded, opsOnly("the policy dry run"), async (c) => {
    const request = DryRunRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!request.success) {
      const problems = request.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
      return c.json({ error: "invalid_request", problems }, 400);
    }
    let candidate: PolicySource;
    try {
      candidate = readCandidate(request.data.candidate, parts.servers);
    } catch (error) {
      if (!(error instanceof PolicyFileError)) throw error;
      return c.json({ error: "invalid_candidate", problems: error.problems }, 400);
    }
    const report = await dryRun(db, {
      candidate,
      current: {
        label: parts.policy ? "this origin's policy" : "this origin's (no policy: everything allowed)",
        policy: parts.policy,
      },
      days: request.data.days,
      groupsFromFile: new Map(),
      directory: parts.directory,
      progress: () => {},
    });
    // The contract the edge parses the report with: a change to the report that breaks it fails to typecheck here.
    return c.json(report satisfies DryRunReport, 200, { "cache-control": "no-store" });
  });
}

/** The candidate as typed: JSON of a policy, checked with the origin's schema and against its servers. */
function readCandidate(text: string, servers: readonly string[] | undefined): PolicySource {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new PolicyFileError([`${CANDIDATE}: not JSON (${(error as Error).message})`]);
  }
  const source = { label: CANDIDATE, policy: validated(Policy, document, CANDIDATE, ""), keyPrefix: "" };
  checkServerPatterns(source, servers);
  return source;
}
