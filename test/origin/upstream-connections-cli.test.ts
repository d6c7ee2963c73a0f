import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

const CLI = fileURLToPath(new URL("../../aws/origin/vault/cli.ts", import.meta.url));
let database: TestDatabase;
let vault: TokenVault;

/** The CLI in a child process (asynchronously: the embedded database answers from this process). */
const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: database.url } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

const SECRET = "upstream-access-token-never-printed";
const connection = {
  accessToken: SECRET,
  client: { client_id: "c" },
  issuer: "https://as.example",
  expiresAt: Date.now() + 3_600_000,
};
beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  vault = new TokenVault(database.pool, localKeyWrapper(randomBytes(32)));
  await vault.put({ sub: "ana-sub", email: "ana@example.com", server: "crm" }, connection);
  await vault.put({ sub: "ana-sub", email: "ana@example.com", server: "wiki" }, connection);
  await vault.put({ sub: "bo-sub", email: "bo@example.com", server: "crm" }, connection);
});
afterAll(() => database?.close());

describe("npm run upstream-connections", () => {
  it("lists connections without ever printing a token", async () => {
    const { code, stdout } = await cli(["list"]);
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split("\n")
        .map((line) => line.split("\t").slice(0, 2).join(" ")),
    ).toEqual(["ana@example.com crm", "ana@example.com wiki", "bo@example.com crm"]);
    // The sub last: what `revoke --sub` takes.
    expect(stdout).toMatch(/^ana@example\.com\tcrm\texpires \S+\tsince \S+\tsub ana-sub$/m);
    expect(stdout).not.toContain(SECRET);
    expect((await cli(["list", "--user", "BO@example.com"])).stdout).toMatch(/^bo@example\.com\tcrm\t/);
  });

  it("revokes one server of a user, then offboards the user, auditing each", async () => {
    expect((await cli(["revoke", "--user", "ana@example.com"])).code).toBe(2); // who revokes is required
    expect(
      (await cli(["revoke", "--user", "ana@example.com", "--server", "crm", "--by", "admin@example.com"])).stdout.trim(),
    ).toBe("revoked 1 connection of ana@example.com to crm");
    // Spelled otherwise than the identity provider spelled it: the address still finds the user's rows.
    expect((await cli(["revoke", "--user", "Ana@Example.COM", "--by", "admin@example.com"])).stdout.trim()).toBe(
      "revoked 1 connection of Ana@Example.COM",
    );
    const { rows } = await database.pool.query("SELECT user_email, server FROM upstream_tokens ORDER BY user_email, server");
    expect(rows).toEqual([{ user_email: "bo@example.com", server: "crm" }]);
    const audited = await database.pool.query(
      "SELECT user_email, server, client_id FROM audit_events WHERE kind = 'upstream.revoked' ORDER BY time",
    );
    expect(audited.rows).toEqual([
      { user_email: "ana@example.com", server: "crm", client_id: "operator:admin@example.com" },
      { user_email: "Ana@Example.COM", server: null, client_id: "operator:admin@example.com" },
    ]);
  });
});

describe("npm run upstream-connections revoke, a user named by their sub or not found", () => {
  const pool = () => database.pool;
  const stored = async (sub: string) =>
    (await pool().query("SELECT server FROM upstream_tokens WHERE user_sub = $1 ORDER BY server", [sub])).rows;

  it("revokes a connection stored without an e-mail by the sub list shows, auditing the sub", async () => {
    // The identity provider vouched for no e-mail: the row, and the list, name the user by their sub alone.
    await vault.put({ sub: "entra-oid-7f3a", server: "crm" }, connection);
    await vault.put({ sub: "entra-oid-7f3a", server: "wiki" }, connection);
    expect((await cli(["list"])).stdout).toMatch(/^entra-oid-7f3a\tcrm\t.*\tsub entra-oid-7f3a$/m);
    const one = await cli(["revoke", "--sub", "entra-oid-7f3a", "--server", "crm", "--by", "admin@example.com"]);
    expect(one).toMatchObject({ code: 0, stdout: "revoked 1 connection of sub entra-oid-7f3a to crm\n" });
    expect(await stored("entra-oid-7f3a")).toEqual([{ server: "wiki" }]);
    const all = await cli(["revoke", "--sub", "entra-oid-7f3a", "--by", "admin@example.com"]);
    expect(all).toMatchObject({ code: 0, stdout: "revoked 1 connection of sub entra-oid-7f3a\n" });
    expect(await stored("entra-oid-7f3a")).toEqual([]);
    const audited = await pool().query(
      "SELECT user_email, user_sub, server, count FROM audit_events WHERE kind = 'upstream.revoked' AND user_sub IS NOT NULL ORDER BY time",
    );
    expect(audited.rows).toEqual([
      { user_email: null, user_sub: "entra-oid-7f3a", server: "crm", count: 1 },
      { user_email: null, user_sub: "entra-oid-7f3a", server: null, count: 1 },
    ]);
  });

  it("revokes by sub a connection stored under an address the user no longer has (it is in list's last column)", async () => {
    await vault.put({ sub: "cy-sub", email: "cy@old.example", server: "crm" }, connection);
    expect(await cli(["revoke", "--user", "cy@new.example", "--by", "admin@example.com"])).toMatchObject({ code: 2 });
    expect(await stored("cy-sub")).toEqual([{ server: "crm" }]);
    expect((await cli(["list"])).stdout).toMatch(/^cy@old\.example\tcrm\t.*\tsub cy-sub$/m);
    expect(await cli(["revoke", "--sub", "cy-sub", "--by", "admin@example.com"])).toMatchObject({ code: 0 });
    expect(await stored("cy-sub")).toEqual([]);
  });

  it("says that a revoke found nothing to delete, with exit 2, and how to find the user's connections", async () => {
    await vault.put({ sub: "dee-sub", server: "crm" }, connection);
    // The sub given as an e-mail (the CLI took only --user before) is not one: refused as such, pointing at --sub.
    const asEmail = await cli(["revoke", "--user", "dee-sub", "--by", "admin@example.com"]);
    expect(asEmail).toMatchObject({ code: 2, stdout: "" });
    expect(asEmail.stderr).toMatch(
      /^upstream-connections: --user "dee-sub" is not an e-mail address \(name@example\.com\); name a user without one by --sub/,
    );
    for (const [args, whose] of [
      [["--user", "dee@example.com"], "dee@example.com"],
      [["--sub", "dee-sub", "--server", "wiki"], "sub dee-sub to wiki"],
      [["--sub", "nobody"], "sub nobody"],
    ] as const) {
      const run = await cli(["revoke", ...args, "--by", "admin@example.com"]);
      expect(run).toMatchObject({ code: 2, stdout: "" });
      expect(run.stderr).toMatch(new RegExp(`^upstream-connections: no connection of ${whose}: nothing was revoked\\. `));
      expect(run.stderr).toContain('"npm run upstream-connections -- list"');
      expect(run.stderr).toContain("--sub");
      expect(run.stderr).not.toContain("usage:");
    }
    expect(await stored("dee-sub")).toEqual([{ server: "crm" }]);
  });

  it("takes exactly one of --user and --sub, refusing the revoke otherwise", async () => {
    const both = await cli(["revoke", "--user", "bo@example.com", "--sub", "bo-sub", "--by", "admin@example.com"]);
    expect(both).toMatchObject({ code: 2, stdout: "" });
    expect(both.stderr).toMatch(/^upstream-connections: --user and --sub: name the user one way, not both\n\nusage:\n/);
    const neither = await cli(["revoke", "--by", "admin@example.com"]);
    expect(neither).toMatchObject({ code: 2, stdout: "" });
    expect(neither.stderr).toMatch(/^upstream-connections: --user or --sub: whose connections to revoke/);
    const empty = await cli(["revoke", "--sub", "", "--by", "admin@example.com"]);
    expect(empty.stderr).toMatch(/^upstream-connections: --user or --sub: /);
    const onList = await cli(["list", "--sub", "bo-sub"]);
    expect(onList).toMatchObject({ code: 2, stderr: expect.stringContaining("list takes only --user") });
    expect(await stored("bo-sub")).toEqual([{ server: "crm" }]);
    expect((await cli(["--help"])).stdout).toContain("revoke (--user EMAIL | --sub SUB) [--server NAME] --by EMAIL");
  });
});
