import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { AuthorizationDiscovery } from "../../aws/origin/upstream-auth/discovery.ts";
import { UpstreamOAuth, type UpstreamOAuthParts } from "../../aws/origin/upstream-auth/upstream-oauth.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import type { HttpServer } from "../../contract/config/schema.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// The e-mail a vault row keeps: the one the user's assertion carries when the row is used, so that operators find
// (and revoke) a renamed user's connections under their current address.
let database: TestDatabase;
let vault: TokenVault;
const connection = {
  accessToken: "access",
  refreshToken: "refresh",
  client: { client_id: "c" },
  issuer: "https://as.example",
  expiresAt: Date.now() + 3_600_000,
};

beforeAll(async () => {
  database = await withTestDatabase();
  await migrate(database.pool);
  vault = new TokenVault(database.pool, localKeyWrapper(randomBytes(32)));
});
afterAll(() => database?.close());

const row = async (sub: string, server = "crm") =>
  (
    await database.pool.query<{ user_email: string | null; updated_at: Date }>(
      "SELECT user_email, updated_at FROM upstream_tokens WHERE user_sub = $1 AND server = $2",
      [sub, server],
    )
  ).rows[0];

describe("TokenVault.get, the row's e-mail", () => {
  it("takes the e-mail the user's assertion carries now: a revoke by the new address finds the row", async () => {
    await vault.put({ sub: "cy-sub", email: "cy@old.example", server: "crm" }, connection);
    await vault.put({ sub: "cy-sub", email: "cy@old.example", server: "wiki" }, connection);
    const before = await row("cy-sub");
    // The user is renamed at the identity provider, and calls through the gateway (the token is fresh: no refresh).
    const oauth = new UpstreamOAuth({ vault, discovery: new AuthorizationDiscovery() } as unknown as UpstreamOAuthParts);
    expect(
      await oauth.accessToken({ sub: "cy-sub", email: "cy@new.example", server: "crm" }, {
        oauth: { registration: "dcr" },
      } as HttpServer),
    ).toBe("access");
    expect(await row("cy-sub")).toEqual({ user_email: "cy@new.example", updated_at: before?.updated_at });
    // Only the row used: the other server's row keeps the old address until it is used in turn.
    expect((await row("cy-sub", "wiki"))?.user_email).toBe("cy@old.example");
    expect((await vault.list("cy@new.example")).map((listed) => listed.server)).toEqual(["crm"]);
    expect(await vault.revoke({ email: "CY@new.example" })).toBe(1);
    expect(await row("cy-sub")).toBeUndefined();
  });

  it("gives a row stored without an e-mail the one a later assertion carries", async () => {
    await vault.put({ sub: "dee-sub", server: "crm" }, connection);
    expect((await vault.get({ sub: "dee-sub", email: "dee@example.com", server: "crm" }))?.accessToken).toBe("access");
    expect((await row("dee-sub"))?.user_email).toBe("dee@example.com");
  });

  it("keeps the stored e-mail when the assertion carries none, and changes no other user's row", async () => {
    await vault.put({ sub: "eve-sub", email: "eve@example.com", server: "crm" }, connection);
    await vault.put({ sub: "fay-sub", email: "fay@example.com", server: "crm" }, connection);
    expect((await vault.get({ sub: "eve-sub", server: "crm" }))?.accessToken).toBe("access");
    expect((await row("eve-sub"))?.user_email).toBe("eve@example.com");
    // Another sub claiming the address (or a row that does not exist) changes nothing.
    expect(await vault.get({ sub: "nobody", email: "eve@example.com", server: "crm" })).toBeUndefined();
    expect(await vault.get({ sub: "fay-sub", email: "fay@example.com", server: "wiki" })).toBeUndefined();
    expect((await row("fay-sub"))?.user_email).toBe("fay@example.com");
    expect((await row("eve-sub"))?.user_email).toBe("eve@example.com");
    expect(
      (await database.pool.query("SELECT count(*)::int AS n FROM upstream_tokens WHERE user_email = 'eve@example.com'")).rows,
    ).toEqual([{ n: 1 }]);
  });
});
