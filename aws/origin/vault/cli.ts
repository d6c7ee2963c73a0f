import { createAuditStore } from "../audit/store.ts";
import { emailOption, parseCommandLine, reportUsageError, UsageError, unexpectedArguments } from "../cli/usage-error.ts";
import { DatabaseSetupError, withCliDatabase } from "../db/cli-database.ts";
import { operatorVault, revokeAudited } from "./revocation.ts";

/**
 * `npm run upstream-connections -- list [--user EMAIL]` and `… revoke (--user EMAIL | --sub SUB) [--server NAME] --by
 * EMAIL`: the users' connections to OAuth-protected upstreams (docs/upstream-credentials.md), against DATABASE_URL.
 * Listing never opens a token; revoking deletes the stored tokens (offboarding: every server of a user), so the next
 * use asks the user to consent again. A user is named by e-mail or, for a row stored without one (the identity provider
 * vouched for none), by their identity provider's id (`sub`, which `list` shows). Every revocation is audited. `--help`
 * (`-h`) prints the usage. Exit codes: 0 done, 1 failed (database unreachable, DATABASE_URL unset or not a
 * postgresql:// URL, a database without the origin's schema), 2 bad arguments or nothing to revoke (no command prints
 * the usage, with 2), as `npm run pins` answers a decision that finds nothing to decide.
 */
const USAGE = `usage:
  npm run upstream-connections -- list [--user EMAIL]
  npm run upstream-connections -- revoke (--user EMAIL | --sub SUB) [--server NAME] --by EMAIL
list shows each connection's user (their e-mail, else their sub), server, expiry, since when and sub;
revoke --sub names a user by that sub (for a connection stored without an e-mail, or one stored under an old address).
A revoke that finds no connection deletes nothing and exits 2.
DATABASE_URL names the origin's PostgreSQL database.`;

/** The tables each command uses: a database without them is refused before the command starts. */
const TABLES = {
  list: ["upstream_tokens"],
  // The revocation's audit event goes into the hash chain in the same transaction.
  revoke: ["upstream_tokens", "audit_events", "audit_chains"],
} as const;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    console.error(USAGE);
    return 2;
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    return reportUsageError("upstream-connections", USAGE, error as Error);
  }
  if (parsed.command === "help") {
    console.log(USAGE);
    return 0;
  }
  const command = parsed;
  try {
    return await withCliDatabase(TABLES[command.command], async (pool) => {
      const vault = operatorVault(pool);
      if (command.command === "list") {
        const connections = await vault.list(command.user);
        if (connections.length === 0) console.log("no upstream connections");
        for (const row of connections) {
          // The sub last, for `revoke --sub`: the first column's e-mail may be an address the user no longer has.
          console.log(
            `${row.email ?? row.sub}\t${row.server}\texpires ${row.expiresAt?.toISOString() ?? "unknown"}\tsince ${row.createdAt.toISOString()}\tsub ${row.sub}`,
          );
        }
        return 0;
      }
      const audit = createAuditStore(pool);
      const removed = await revokeAudited(vault, audit, command.user, command.server, command.by);
      const whose = `${"sub" in command.user ? `sub ${command.user.sub}` : command.user.email}${command.server ? ` to ${command.server}` : ""}`;
      if (removed === 0) {
        // An offboarding that deleted nothing must not pass for done: the user may still be connected under another name.
        console.error(
          `upstream-connections: no connection of ${whose}: nothing was revoked. ` +
            'Find the user in "npm run upstream-connections -- list": a connection stored without an e-mail is listed ' +
            "under its sub, one stored under an address the user no longer has under that address; " +
            "revoke it with --sub SUB (list's last column).",
        );
        return NOTHING_TO_REVOKE;
      }
      console.log(`revoked ${removed} connection${removed === 1 ? "" : "s"} of ${whose}`);
      return 0;
    });
  } catch (error) {
    if (error instanceof DatabaseSetupError) {
      console.error(`upstream-connections: ${error.message}`);
      return 1;
    }
    console.error(`upstream-connections: failed: ${(error as Error).message}`);
    return 1;
  }
}

/** The exit code of a revoke that deleted nothing (as pins' of a decision with nothing to decide). */
const NOTHING_TO_REVOKE = 2;

type Command =
  | { command: "help" }
  | { command: "list"; user?: string }
  | { command: "revoke"; user: { email: string } | { sub: string }; server?: string; by: string };

function parseOptions(argv: string[]): Command {
  const { positionals, values } = parseCommandLine({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      user: { type: "string" },
      sub: { type: "string" },
      server: { type: "string" },
      by: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { command: "help" };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError("no command: expected list or revoke");
  if (command !== "list" && command !== "revoke") {
    throw new UsageError(`unknown command "${command}": expected list or revoke`);
  }
  // Every value is an option's: a revoke that ignored a stray word may delete more than meant.
  if (extra.length > 0) throw unexpectedArguments(extra, command);
  if (command === "list") {
    if (values.server !== undefined || values.by !== undefined || values.sub !== undefined) {
      throw new UsageError("--sub, --server and --by are revoke's: list takes only --user");
    }
    return { command, user: values.user };
  }
  if (values.user !== undefined && values.sub !== undefined) {
    throw new UsageError("--user and --sub: name the user one way, not both");
  }
  if (!values.user && !values.sub) {
    throw new UsageError(
      "--user or --sub: whose connections to revoke (their e-mail address, or the sub list shows for a connection without one)",
    );
  }
  if (!values.by) throw new UsageError("--by: who revokes (your e-mail address): it goes into the audit trail");
  const user = values.sub
    ? { sub: values.sub }
    : { email: emailOption("user", values.user as string, "; name a user without one by --sub, as list shows") };
  return { command, user, server: values.server, by: emailOption("by", values.by) };
}

process.exitCode = await main(process.argv.slice(2));
