import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import { createAuditStore } from "../audit/store.ts";
import { createPool } from "../db/pool.ts";
import type { KeyWrapper } from "./key-wrapper.ts";
import { TokenVault } from "./token-vault.ts";

/**
 * `npm run upstream-connections -- list [--user EMAIL]` and `… revoke --user EMAIL [--server NAME] --by EMAIL`: the
 * users' connections to OAuth-protected upstreams (docs/upstream-credentials.md), against DATABASE_URL. Listing never
 * opens a token; revoking deletes the stored tokens (offboarding: every server of a user), so the next use asks the
 * user to consent again. Every revocation is audited. Exit codes: 0 done, 1 failed, 2 bad arguments.
 */
const USAGE = `usage:
  npm run upstream-connections -- list [--user EMAIL]
  npm run upstream-connections -- revoke --user EMAIL [--server NAME] --by EMAIL
DATABASE_URL names the origin's PostgreSQL database.`;

/** Listing and deleting need no key: nothing is decrypted. */
const NO_KEY: KeyWrapper = {
  describe: "no key (list and revoke open no token)",
  newDataKey: () => Promise.reject(new Error("this command opens no token")),
  unwrap: () => Promise.reject(new Error("this command opens no token")),
};

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    console.error(`upstream-connections: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
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
    const vault = new TokenVault(pool, NO_KEY);
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
    const removed = await vault.revoke({ email: parsed.user }, parsed.server);
    await createAuditStore(pool).insert([revocationEvent(parsed.user, parsed.server, parsed.by, removed)]);
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

type Command = { command: "list"; user?: string } | { command: "revoke"; user: string; server?: string; by: string };

function parseOptions(argv: string[]): Command {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { user: { type: "string" }, server: { type: "string" }, by: { type: "string" } },
  });
  const [command] = positionals;
  if (command === "list") return { command, user: values.user };
  if (command !== "revoke") throw new Error(`unknown command "${command ?? ""}": expected list or revoke`);
  if (!values.user) throw new Error("--user: whose connections to revoke (their e-mail address)");
  if (!values.by) throw new Error("--by: who revokes (your e-mail address): it goes into the audit trail");
  return { command, user: values.user, server: values.server, by: values.by };
}

function revocationEvent(user: string, server: string | undefined, by: string, removed: number): AuditEvent {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    kind: "upstream.revoked",
    userEmail: user,
    clientId: `operator:${by}`,
    server,
    outcome: "ok",
    count: removed > 0 ? removed : undefined,
    latencyMs: 0,
  };
}

process.exitCode = await main(process.argv.slice(2));
