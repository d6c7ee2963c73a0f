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

/** The CLI in a child process (asynchronously: the embedded database answers from this process). */
const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: database.url } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

const SECRET = "upstream-access-token-never-printed";
beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  const vault = new TokenVault(database.pool, localKeyWrapper(randomBytes(32)));
  const connection = {
    accessToken: SECRET,
    client: { client_id: "c" },
    issuer: "https://as.example",
    expiresAt: Date.now() + 3_600_000,
  };
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
