import { parseCommandLine, reportUsageError, USAGE_EXIT_CODE, UsageError } from "../cli/usage-error.ts";
import { DatabaseSetupError, withCliDatabase } from "../db/cli-database.ts";
import { googleGroupLookUp } from "../identity/google/google-groups.ts";
import { deployedPolicy } from "./dry-run/deployed-config.ts";
import { type DryRunOptions, dryRun } from "./dry-run/dry-run.ts";
import { checkServerPatterns, PolicyFileError, type PolicySource, readPolicyFile } from "./dry-run/policy-file.ts";
import { formatReport, REPORT_FORMATS, type ReportFormat } from "./dry-run/report.ts";
import { readGroupsFile } from "./dry-run/user-groups.ts";

/**
 * `npm run policy -- dry-run --candidate FILE …`: the candidate policy against the last days of audited tool calls,
 * beside the current one (docs/policy.md, "Dry run"). The report goes to stdout, progress to stderr. Exit codes:
 * 0 no decision would change, 4 some would (a CI gate on a policy change), 1 failed (database unreachable,
 * DATABASE_URL unset or not a postgresql:// URL, a database without the origin's schema), 2 bad arguments or files.
 * Arguments and files are checked before the database is.
 */
const USAGE = `usage:
  npm run policy -- dry-run --candidate FILE [--current FILE] [--groups FILE] [--days N] [--format text|json]
FILE: a policy ({ "rules": [...] }) or an origin configuration file (its origin.policy).
--current defaults to the origin's own: MCP_PROXY_CONFIG (else ./proxy.config.json), then MCP_POLICY; none: no policy.
--groups: { "user@example.com": ["group@example.com"] }; the Directory is asked too when origin.google is configured.
--days: the last N days of audit events (default 7). DATABASE_URL names the origin's database.`;

const EXIT = { unchanged: 0, failed: 1, usage: USAGE_EXIT_CODE, changed: 4 } as const;
const MAX_DAYS = 3650;

/** The tables the dry run reads: the recorded tool calls, and the approved definitions' annotations. */
const TABLES = ["audit_events", "pinned_definitions"] as const;

async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === "help" || command === "--help" || command === "-h") {
      console.log(USAGE);
      return EXIT.unchanged;
    }
    if (command !== "dry-run") throw new UsageError(`unknown command "${command ?? ""}": expected dry-run`);
    return await dryRunCommand(rest);
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError("policy", USAGE, error);
    if (error instanceof PolicyFileError) {
      for (const problem of error.problems) console.error(`policy: ${problem}`);
      return EXIT.usage;
    }
    if (error instanceof DatabaseSetupError) {
      console.error(`policy: ${error.message}`);
      return EXIT.failed;
    }
    console.error(`policy: failed: ${(error as Error).message}`);
    return EXIT.failed;
  }
}

interface Arguments {
  candidate: string;
  current?: string;
  groups?: string;
  days: number;
  format: ReportFormat;
}

function readArguments(args: string[]): Arguments {
  const { values } = parseCommandLine({
    args,
    strict: true,
    options: {
      candidate: { type: "string" },
      current: { type: "string" },
      groups: { type: "string" },
      days: { type: "string", default: "7" },
      format: { type: "string", default: "text" },
    },
  });
  if (!values.candidate) throw new UsageError("--candidate is required: the policy (or configuration) file to try");
  const days = /^\d+$/.test(values.days ?? "") ? Number(values.days) : Number.NaN;
  if (!(days >= 1 && days <= MAX_DAYS)) {
    throw new UsageError(`--days: expected a whole number of days from 1 to ${MAX_DAYS}; got "${values.days}"`);
  }
  const format = REPORT_FORMATS.find((known) => known === values.format);
  if (!format) throw new UsageError(`--format: expected one of ${REPORT_FORMATS.join(", ")}; got "${values.format}"`);
  return { candidate: values.candidate, current: values.current, groups: values.groups, days, format };
}

async function dryRunCommand(args: string[]): Promise<number> {
  const given = readArguments(args);
  const candidate = readPolicyFile(given.candidate, { allowNoPolicy: false });
  // The origin's own configuration is read only when needed: for the current policy, the servers or Google.
  let deployed: PolicySource | undefined;
  const origin = () => {
    deployed ??= deployedPolicy(process.env);
    return deployed;
  };
  const current = given.current ? readPolicyFile(given.current, { allowNoPolicy: true }) : origin();
  const servers = candidate.servers ?? current.servers ?? origin().servers;
  if (!servers) progress("no configuration names the servers: the candidate's server patterns are not checked");
  checkServerPatterns(candidate, servers);
  const google = candidate.google ?? current.google ?? origin().google;
  const options: DryRunOptions = {
    candidate,
    current,
    days: given.days,
    groupsFromFile: given.groups ? readGroupsFile(given.groups) : new Map(),
    directory: google && googleGroupLookUp(google),
    progress,
  };

  return await withCliDatabase(TABLES, async (pool) => {
    const report = await dryRun(pool, options);
    process.stdout.write(formatReport(report, given.format));
    return report.changes.length > 0 ? EXIT.changed : EXIT.unchanged;
  });
}

function progress(message: string): void {
  process.stderr.write(`policy: ${message}\n`);
}

process.exitCode = await main(process.argv.slice(2));
