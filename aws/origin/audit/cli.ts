import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { ParseArgsOptionsConfig } from "node:util";
import type pg from "pg";
import { parseCommandLine, reportUsageError, UsageError } from "../cli/usage-error.ts";
import { DatabaseSetupError, withCliDatabase } from "../db/cli-database.ts";
import { EXPORT_FORMATS, type ExportFormat, serializeEvents } from "./export.ts";
import { progressEvery } from "./progress.ts";
import { purgeOlderThanDays, RETENTION_BATCH_SIZE } from "./retention.ts";
import { type AuditFilter, FILTER_NAMES, parseAuditFilter, searchAudit } from "./search.ts";
import { publicKeyOf, verifyCommand } from "./verify/verify-command.ts";

/**
 * `npm run audit -- search [filters] [--format csv|json] > out.csv`, `npm run audit -- purge --older-than-days N
 * [--dry-run]` and `npm run audit -- verify [--public-key FILE]…`, against DATABASE_URL. Data goes to stdout only;
 * progress and messages to stderr. Exit codes: 0 done, 1 failed (database unreachable, DATABASE_URL unset or not a
 * postgresql:// URL, a database without the origin's schema, a purge, or the purge a dry run previews, refused by the
 * minimum age), 2 bad arguments, 3 verify found tampering. `--help`
 * (`-h`) prints the usage on stdout.
 */

const USAGE = `usage:
  npm run audit -- search [--user SUB_OR_EMAIL] [--server NAME] [--tool NAME|PREFIX*] [--outcome ok,error,…]
                          [--kind mcp.request,…] [--from ISO] [--to ISO] [--limit N] [--cursor C] [--format json|csv]
  npm run audit -- purge --older-than-days N [--dry-run]
  npm run audit -- verify [--public-key FILE]… [--page-size N]
DATABASE_URL names the PostgreSQL database (postgres://user:password@host:5432/name).`;

const HELP = new Set(["help", "--help", "-h"]);

/** The tables each command uses: a database without them is refused before the command starts. */
const TABLES = {
  search: ["audit_events"],
  purge: ["audit_events", "audit_chain_purges", "audit_purge_policy"],
  verify: ["audit_events", "audit_chains", "audit_checkpoints", "audit_checkpoint_keys", "audit_chain_purges"],
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // Arguments are checked before the database is: a mistake is reported the same with or without it.
    if (command === "search") return await withCliDatabase(TABLES.search, searchCommand(rest));
    if (command === "purge") return await withCliDatabase(TABLES.purge, purgeCommand(rest));
    if (command === "verify") return await withCliDatabase(TABLES.verify, verifyOptions(rest));
    if (command === undefined) {
      console.error(USAGE);
      return 2;
    }
    if (HELP.has(command)) {
      console.log(USAGE);
      return 0;
    }
    throw new UsageError(`unknown command "${command}": expected search, purge or verify`);
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError("audit", USAGE, error);
    if (error instanceof DatabaseSetupError) {
      console.error(`audit: ${error.message}`);
      return 1;
    }
    console.error(`audit: failed: ${(error as Error).message}`);
    return 1;
  }
}

/** A command's options (it takes no other words), read by {@link parseCommandLine}. */
function options(args: string[], spec: ParseArgsOptionsConfig): Record<string, string | boolean | string[] | undefined> {
  return parseCommandLine({ args, options: spec, strict: true, allowPositionals: false }).values as Record<
    string,
    string | boolean | string[] | undefined
  >;
}

// Every filter may be repeated as far as parseArgs is concerned, so that the filter check names a repeated one.
const SEARCH_OPTIONS: ParseArgsOptionsConfig = {
  ...Object.fromEntries(FILTER_NAMES.map((filter) => [filter, { type: "string", multiple: true } as const])),
  format: { type: "string", default: "json" },
};

function searchCommand(args: string[]): (pool: pg.Pool) => Promise<number> {
  const { format, ...filters } = options(args, SEARCH_OPTIONS) as Record<string, string | string[] | undefined>;
  const exportFormat = EXPORT_FORMATS.find((known) => known === format);
  if (!exportFormat) throw new UsageError(`--format: expected one of ${EXPORT_FORMATS.join(", ")}; got "${format}"`);
  const parsed = parseAuditFilter(filters);
  // The route's messages as they are (docs/audit.md quotes them for both): each names its filter, the option's name.
  if ("problems" in parsed) throw new UsageError(parsed.problems.join("\n  "));
  return async (pool) => {
    await exportTo(process.stdout, pool, parsed.filter, exportFormat);
    return 0;
  };
}

async function exportTo(out: NodeJS.WritableStream, pool: pg.Pool, filter: AuditFilter, format: ExportFormat): Promise<void> {
  const search = searchAudit(pool, filter);
  let rows = 0;
  let pages = 0;
  async function* counted() {
    for await (const page of search.pages) {
      rows += page.length;
      pages += 1;
      // Quiet for a short answer; on a long export, the rows so far after each page.
      if (pages > 1) process.stderr.write(`audit: ${rows} rows so far\n`);
      yield page;
    }
  }
  for await (const chunk of serializeEvents(counted(), format)) {
    if (!out.write(chunk)) await once(out, "drain");
  }
  const next = search.nextCursor();
  process.stderr.write(`audit: ${rows} ${rows === 1 ? "row" : "rows"} exported\n`);
  if (next) {
    process.stderr.write(`audit: stopped at --limit ${filter.limit}; more rows match: continue with --cursor ${next}\n`);
  }
}

function purgeCommand(args: string[]): (pool: pg.Pool) => Promise<number> {
  const values = options(args, { "older-than-days": { type: "string" }, "dry-run": { type: "boolean", default: false } });
  const raw = values["older-than-days"];
  if (typeof raw !== "string") throw new UsageError("--older-than-days is required (a whole number of days, at least 1)");
  const days = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(days) || days < 1) {
    throw new UsageError(`--older-than-days: expected a whole number of days, at least 1; got "${raw}"`);
  }
  const dryRun = values["dry-run"] === true;
  return async (pool) => {
    // A purge of millions of rows runs for minutes: say that it started, then how far it got (the result stays the
    // one line on stdout).
    if (!dryRun) {
      process.stderr.write(
        `audit purge: deleting events older than ${days} days, ${RETENTION_BATCH_SIZE} at a time, after recording which seqs of each chain go\n`,
      );
    }
    const onBatch = progressEvery((rows) => process.stderr.write(`audit purge: ${rows} rows deleted so far\n`));
    // By the database's clock, which the purge functions judge the minimum age by (not this machine's).
    const { deleted, cutoff, refused } = await purgeOlderThanDays(pool, days, { dryRun, onBatch });
    const verb = dryRun ? "would delete" : "deleted";
    process.stdout.write(`${verb} ${deleted} audit events older than ${cutoff.toISOString()} (${days} days)\n`);
    if (refused === undefined) return 0;
    // The count is what a dry run is for; exit 1 all the same, as the purge it previews would.
    process.stderr.write(`audit: the purge itself (without --dry-run) would fail: ${refused}\n`);
    return 1;
  };
}

function verifyOptions(args: string[]): (pool: pg.Pool) => Promise<number> {
  const values = options(args, { "public-key": { type: "string", multiple: true }, "page-size": { type: "string" } });
  const pageSize = values["page-size"] === undefined ? 5000 : Number(values["page-size"]);
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 100_000) {
    throw new UsageError(`--page-size: expected a whole number from 1 to 100000; got "${values["page-size"]}"`);
  }
  const keyFiles = (values["public-key"] as string[] | undefined) ?? [];
  const trustedKeys = keyFiles.map((file) => {
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (error) {
      throw new UsageError(`--public-key: cannot read ${file}: ${(error as Error).message}`);
    }
    return publicKeyOf(file, text);
  });
  return (pool) => verifyCommand(pool, { pageSize, trustedKeys, out: process.stdout, err: process.stderr });
}

// A reader that stops early (`| head`) closes the pipe: that ends the export, it is not a failure.
process.stdout.on("error", (error: NodeJS.ErrnoException) => process.exit(error.code === "EPIPE" ? 0 : 1));
process.exitCode = await main(process.argv.slice(2));
