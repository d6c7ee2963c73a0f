import { printable } from "../../../contract/printable.ts";
import { type AuditStore, createAuditStore } from "../audit/store.ts";
import { emailOption, parseCommandLine, reportUsageError, UsageError, unexpectedArguments } from "../cli/usage-error.ts";
import { DatabaseSetupError, withCliDatabase } from "../db/cli-database.ts";
import type { DefinitionKind } from "./fingerprint.ts";
import { approvedOf, decidePin, type PinDecision, waitingChanges } from "./pin-decision.ts";
import { createPinStore, type PinnedDefinition } from "./pin-store.ts";
import { sideBySide } from "./side-by-side.ts";

/**
 * `npm run pins -- pending | diff | approve | reject`: an administrator's review of pinned definitions (docs/pinning.md)
 * against DATABASE_URL. Every decision is audited. Running origins pick decisions up within seconds and tell their
 * clients to list again. `--help` (`-h`) prints the usage. Exit codes: 0 done, 1 failed (database unreachable,
 * DATABASE_URL unset or not a postgresql:// URL, a database without the origin's schema), 2 bad arguments or nothing to
 * decide.
 */
const USAGE = `usage:
  npm run pins -- pending                                   what waits for a decision
  npm run pins -- diff <server> <kind> <name> [--fingerprint PREFIX]
                                                            the approved definition beside the waiting one
  npm run pins -- approve <server> <kind> <name> --by EMAIL [--fingerprint PREFIX]
  npm run pins -- reject <server> <kind> <name> --by EMAIL [--fingerprint PREFIX]
<kind> is tool, prompt, resource (whose <name> is its URI), resource_template or discovery (whose <name> is "").
A rejected definition no longer waits: diff and approve take it when --fingerprint names it.
DATABASE_URL names the PostgreSQL database.`;

const KINDS: readonly DefinitionKind[] = ["tool", "prompt", "resource", "resource_template", "discovery"];

/** The tables each command uses: a database without them is refused before the command starts. */
const TABLES = {
  review: ["pinned_definitions"],
  // A decision and its audit event are written in one transaction, the event into the hash chain.
  decide: ["pinned_definitions", "audit_events", "audit_chains"],
} as const;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    console.error(USAGE);
    return 2;
  }
  try {
    const { positionals, values } = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { by: { type: "string" }, fingerprint: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const [command, ...words] = positionals;
    if (command === "pending") {
      // Stray words are refused, not ignored (see unexpectedArguments).
      if (words.length > 0) throw unexpectedArguments(words, command);
      return await withStore(TABLES.review, (rows) => printPending(rows));
    }
    if (command === undefined) throw new UsageError("no command: expected pending, diff, approve or reject");
    if (command !== "diff" && command !== "approve" && command !== "reject") throw new UsageError(`unknown command "${command}"`);
    const [server, kind, name, ...extra] = words;
    if (!server || name === undefined) throw new UsageError("expected <server> <kind> <name>");
    if (!KINDS.includes(kind as DefinitionKind)) throw new UsageError(`unknown kind "${kind}": use one of ${KINDS.join(", ")}`);
    // A decision that ignored part of its arguments might not be the one meant.
    if (extra.length > 0) throw unexpectedArguments(extra, `${command} <server> <kind> <name>`);
    if (command !== "diff" && !values.by)
      throw new UsageError("--by: say who decides (your e-mail address): it goes into the audit trail");
    if (values.by !== undefined) emailOption("by", values.by);
    const key = { server, kind: kind as DefinitionKind, name };
    return await withStore(command === "diff" ? TABLES.review : TABLES.decide, (rows, store, audit) => {
      // A rejected definition is taken only when named: it no longer waits, yet an administrator may think again.
      const takes = (row: PinnedDefinition) =>
        row.status === "pending" || (row.status === "rejected" && command !== "reject" && Boolean(values.fingerprint));
      const waiting = rows.filter(
        (row) => matches(row, key) && takes(row) && row.fingerprint.startsWith(values.fingerprint ?? ""),
      );
      if (waiting.length !== 1) {
        console.error(waiting.length === 0 ? nothingThere(rows, key) : "several changes wait: choose one with --fingerprint");
        return Promise.resolve(2);
      }
      const change = waiting[0] as PinnedDefinition;
      const approved = approvedOf(rows, change);
      if (command === "diff") {
        console.log(
          `approved${approved ? ` ${approved.fingerprint.slice(0, 12)}` : ": none"}  |  ${change.status === "rejected" ? "rejected" : "waiting"} ${change.fingerprint.slice(0, 12)}`,
        );
        console.log(sideBySide(approved?.definition ?? {}, change.definition));
        return Promise.resolve(0);
      }
      return decide(store, audit, command, change, values.by as string);
    });
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError("pins", USAGE, error);
    if (error instanceof DatabaseSetupError) {
      console.error(`pins: ${error.message}`);
      return 1;
    }
    console.error(`pins: failed: ${(error as Error).message}`);
    return 1;
  }
}

type Key = { server: string; kind: string; name: string };
const matches = (row: PinnedDefinition, key: Key) => row.server === key.server && row.kind === key.kind && row.name === key.name;

/** Nothing to decide there; the definitions rejected there, if any, named so one can be approved after all. */
function nothingThere(rows: PinnedDefinition[], key: Key): string {
  const rejected = rows.filter((row) => matches(row, key) && row.status === "rejected");
  if (rejected.length === 0) return "nothing waits for a decision there";
  const which = rejected.map((row) => `${row.fingerprint.slice(0, 12)} by ${printable(row.decidedBy ?? "?")}`).join(", ");
  return `nothing waits for a decision there; rejected: ${which} (name one with --fingerprint to diff or approve it)`;
}

async function decide(
  store: ReturnType<typeof createPinStore>,
  audit: AuditStore,
  command: PinDecision,
  change: PinnedDefinition,
  by: string,
): Promise<number> {
  if (!(await decidePin(store, audit, command, change, by))) {
    console.error("the change was decided meanwhile; run pending again");
    return 2;
  }
  console.log(
    `${command === "approve" ? "approved" : "rejected"} ${change.kind} "${printable(change.name)}" of ${printable(change.server)} (${change.fingerprint.slice(0, 12)})`,
  );
  return 0;
}

function printPending(rows: PinnedDefinition[]): Promise<number> {
  const waiting = waitingChanges(rows);
  if (waiting.length === 0) console.log("nothing waits for a decision");
  for (const { change: row, approved } of waiting) {
    // An upstream's name with a tab or a control character cannot pass for other columns or rewrite the line.
    console.log(
      `${printable(row.server)}\t${row.kind}\t${printable(row.name)}\t${approved ? "changed" : "new"}\t${row.fingerprint.slice(0, 12)}\tfirst seen ${row.firstSeen.toISOString()}`,
    );
  }
  return Promise.resolve(0);
}

/** The command on DATABASE_URL once the database has its `tables` (see withCliDatabase), given the pins' rows. */
function withStore(
  tables: readonly string[],
  run: (rows: PinnedDefinition[], store: ReturnType<typeof createPinStore>, audit: AuditStore) => Promise<number>,
): Promise<number> {
  return withCliDatabase(tables, async (pool) => {
    const store = createPinStore(pool);
    return await run(await store.changedSince(), store, createAuditStore(pool));
  });
}

process.exitCode = await main(process.argv.slice(2));
