import { parseArgs } from "node:util";
import { createAuditStore } from "../audit/store.ts";
import { createPool } from "../db/pool.ts";
import { operatorVault, revokeAudited } from "./revocation.ts";

/**
 * `npm run upstream-connections -- list [--user EMAIL]` and `… revoke --user EMAIL [--server NAME] --by EMAIL`: the
 * users' connections to OAuth-protected upstreams (docs/upstream-credentials.md), against DATABASE_URL. Listing never
 * opens a token; revoking deletes the stored tokens (offboarding: every server of a user), so the next use asks the
 * user to consent again. Every revocation is audited. `--help` (`-h`) prints the usage. Exit codes: 0 done, 1 failed,
 * 2 bad arguments.
 */
const USAGE = `usage:
  npm run upstream-connections -- list [--user EMAIL]
  npm run upstream-connections -- revoke --user EMAIL [--server NAME] --by EMAIL
DATABASE_URL names the origin's PostgreSQL database.`;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    console.error(`upstream-connections: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.command === "help") {
    console.log(USAGE);
    return 0;
  }
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error(
      "upstream-connections: DATABASE_URL is not set: set it to the origin's database, e.g. postgres://user:password@host:5432/name",
    );
    return 1;
  }
  const pool = createPool(url, { max: 1 });
  try {
    const vault = operatorVault(pool);
    if (parsed.command === "list") {
      const connections = await vault.list(parsed.user);
      if (connections.length === 0) console.log("no upstream connections");
      for (const row of connections) {
        console.log(
          `${row.email ?? row.sub}\t${row.server}\texpires ${row.expiresAt?.toISOString() ?? "unknown"}\tsince ${row.createdAt.toISOString()}`,
        );
      }
      return 0;
    }
    const audit = createAuditStore(pool);
    const removed = await revokeAudited(vault, audit, { email: parsed.user }, parsed.server, parsed.by);
    console.log(
      `revoked ${removed} connection${removed === 1 ? "" : "s"} of ${parsed.user}${parsed.server ? ` to ${parsed.server}` : ""}`,
    );
    return 0;
  } catch (error) {
    console.error(`upstream-connections: failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await pool.end();
  }
}

type Command =
  | { command: "help" }
  | { command: "list"; user?: string }
  | { command: "revoke"; user: string; server?: string; by: string };

function parseOptions(argv: string[]): Command {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      user: { type: "string" },
      server: { type: "string" },
      by: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { command: "help" };
  const [command] = positionals;
  if (command === "list") return { command, user: values.user };
  if (command !== "revoke") throw new Error(`unknown command "${command ?? ""}": expected list or revoke`);
  if (!values.user) throw new Error("--user: whose connections to revoke (their e-mail address)");
  if (!values.by) throw new Error("--by: who revokes (your e-mail address): it goes into the audit trail");
  return { command, user: values.user, server: values.server, by: values.by };
}

process.exitCode = await main(process.argv.slice(2));
