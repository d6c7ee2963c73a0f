import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { PendingAuthorizations } from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { connectionKeysFromConfig, vaultKeysFromConfig } from "../../aws/origin/vault/from-config.ts";
import { kmsKeyWrapper, localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { type StoredConnection, TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { withUnwrapCache } from "../../aws/origin/vault/unwrap-cache.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { FAKE_KMS_CREDENTIALS, type FakeKms, fakeKmsClient, startFakeKms } from "../aws/kms-fake.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// The token vault's envelope encryption with AWS KMS, through the AWS SDK against a local server speaking KMS's wire
// protocol: each row's data key comes from GenerateDataKey under the row's identity as encryption context, and only
// Decrypt with the same key and the same context gives it back.
const KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY_ID = "0000abcd-12ab-34cd-56ef-1234567890ab";
let fake: FakeKms;
let db: TestDatabase;
const kms = () => fakeKmsClient(fake);

const alice = { sub: "alice-sub", email: "alice@example.com", server: "crm" };
const connection = (accessToken: string): StoredConnection => ({
  accessToken,
  refreshToken: `refresh-of-${accessToken}`,
  expiresAt: Date.now() + 3_600_000,
  client: { client_id: "client-1" },
  issuer: "https://as.example.com",
  resource: "https://crm.example.com/mcp",
});

beforeAll(async () => {
  fake = await startFakeKms();
  fake.addSymmetricKey(KEY_ID);
  fake.addSymmetricKey(OTHER_KEY_ID);
  fake.addKey("signing-key");
  db = await withTestDatabase();
  await migrate(db.pool);
});
afterAll(async () => {
  await fake?.close();
  await db?.close();
});
beforeEach(async () => {
  fake.requests.length = 0;
  await db.pool.query("DELETE FROM upstream_tokens");
});

describe("the token vault sealed with AWS KMS", () => {
  it("round-trips a connection: GenerateDataKey to seal, Decrypt to open, both signed, with the row's identity", async () => {
    const vault = new TokenVault(db.pool, kmsKeyWrapper(kms(), KEY_ID));
    const stored = connection(`token-${randomBytes(8).toString("hex")}`);
    await vault.put(alice, stored);
    expect(await vault.get(alice)).toEqual(stored);
    expect(fake.requests).toEqual([
      { target: "TrentService.GenerateDataKey", keyId: KEY_ID, signed: true, region: "eu-west-1" },
      { target: "TrentService.Decrypt", keyId: KEY_ID, signed: true, region: "eu-west-1" },
    ]);
  });

  it("stores neither the token nor the data key in the clear", async () => {
    const token = `token-${randomBytes(8).toString("hex")}`;
    await new TokenVault(db.pool, kmsKeyWrapper(kms(), KEY_ID)).put(alice, connection(token));
    const { rows } = await db.pool.query<{ wrapped_key: Buffer; sealed: Buffer }>("SELECT * FROM upstream_tokens");
    expect(rows).toHaveLength(1);
    const row = rows[0] as { wrapped_key: Buffer; sealed: Buffer };
    for (const column of [row.sealed, row.wrapped_key]) {
      expect(column.toString("latin1")).not.toContain(token);
      expect(column.toString("latin1")).not.toContain("refresh-of-");
    }
  });

  it("refuses a wrong encryption context: KMS answers InvalidCiphertextException", async () => {
    const wrapper = kmsKeyWrapper(kms(), KEY_ID);
    const key = await wrapper.newDataKey({ purpose: "upstream-token", sub: "alice-sub", server: "crm" });
    expect(
      (await wrapper.unwrap(key.wrapped, { purpose: "upstream-token", sub: "alice-sub", server: "crm" })).equals(key.plaintext),
    ).toBe(true);
    await expect(
      wrapper.unwrap(key.wrapped, { purpose: "upstream-token", sub: "mallory-sub", server: "crm" }),
    ).rejects.toMatchObject({
      name: "InvalidCiphertextException",
    });
    await expect(wrapper.unwrap(key.wrapped, {})).rejects.toMatchObject({ name: "InvalidCiphertextException" });
  });

  it("does not open a row moved to another user: its data key was bound to the first", async () => {
    const vault = new TokenVault(db.pool, kmsKeyWrapper(kms(), KEY_ID));
    await vault.put(alice, connection("alice-token"));
    await db.pool.query("UPDATE upstream_tokens SET user_sub = 'mallory-sub'");
    await expect(vault.get({ sub: "mallory-sub", server: "crm" })).rejects.toMatchObject({ name: "InvalidCiphertextException" });
  });

  it("leaves rows unreadable with another KMS key, another KMS, or a local key", async () => {
    await new TokenVault(db.pool, kmsKeyWrapper(kms(), KEY_ID)).put(alice, connection("alice-token"));
    await expect(new TokenVault(db.pool, kmsKeyWrapper(kms(), OTHER_KEY_ID)).get(alice)).rejects.toMatchObject({
      name: "IncorrectKeyException",
    });
    const elsewhere = await startFakeKms();
    try {
      elsewhere.addSymmetricKey(KEY_ID);
      await expect(new TokenVault(db.pool, kmsKeyWrapper(fakeKmsClient(elsewhere), KEY_ID)).get(alice)).rejects.toMatchObject({
        name: "InvalidCiphertextException",
      });
    } finally {
      await elsewhere.close();
    }
    await expect(new TokenVault(db.pool, localKeyWrapper(randomBytes(32))).get(alice)).rejects.toThrow();
  });

  it("refuses a key that cannot wrap: an asymmetric signing key is not for GenerateDataKey", async () => {
    const vault = new TokenVault(db.pool, kmsKeyWrapper(kms(), "signing-key"));
    await expect(vault.put(alice, connection("t"))).rejects.toMatchObject({ name: "InvalidKeyUsageException" });
    expect(await db.pool.query("SELECT 1 FROM upstream_tokens")).toMatchObject({ rowCount: 0 });
  });

  it("seals pending authorizations under KMS too, and takes each once", async () => {
    const pending = new PendingAuthorizations(db.pool, kmsKeyWrapper(kms(), KEY_ID));
    const begun = {
      codeVerifier: "v".repeat(43),
      client: { client_id: "client-1" },
      issuer: "https://as.example.com",
      resource: "https://crm.example.com/mcp",
      redirectUri: "https://edge.example.com/upstream-oauth/callback",
    };
    await pending.put("state-1", alice, begun);
    expect(await pending.take("state-1")).toEqual({ owner: alice, pending: begun });
    expect(await pending.take("state-1")).toBeUndefined();
  });

  it("is chosen by upstreamVault.kmsKeyId (region and endpoint from the configuration, credentials from the task)", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", FAKE_KMS_CREDENTIALS.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", FAKE_KMS_CREDENTIALS.secretAccessKey);
    try {
      const config = OriginConfig.shape.upstreamVault.parse({
        kmsKeyId: KEY_ID,
        kmsRegion: "eu-west-1",
        kmsEndpoint: fake.endpoint,
      });
      const logged: string[] = [];
      const keys = vaultKeysFromConfig(config, (line) => logged.push(line));
      expect(keys.describe).toBe(`AWS KMS key ${KEY_ID}`);
      const vault = new TokenVault(db.pool, keys);
      await vault.put(alice, connection("configured"));
      expect((await vault.get(alice))?.accessToken).toBe("configured");
      expect(fake.requests.map((request) => request.target)).toEqual(["TrentService.GenerateDataKey", "TrentService.Decrypt"]);
      expect(logged).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("the data keys KMS decrypted, kept for a while", () => {
  const decrypts = () => fake.requests.filter((request) => request.target === "TrentService.Decrypt").length;
  const bob = { sub: "bob-sub", email: "bob@example.com", server: "crm" };
  const carol = { sub: "carol-sub", email: "carol@example.com", server: "crm" };

  const configuredVault = (keyCacheSeconds?: number) => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", FAKE_KMS_CREDENTIALS.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", FAKE_KMS_CREDENTIALS.secretAccessKey);
    const config = OriginConfig.shape.upstreamVault.parse({
      kmsKeyId: KEY_ID,
      kmsRegion: "eu-west-1",
      kmsEndpoint: fake.endpoint,
      ...(keyCacheSeconds !== undefined && { keyCacheSeconds }),
    });
    return new TokenVault(
      db.pool,
      connectionKeysFromConfig(
        vaultKeysFromConfig(config, () => {}),
        config,
      ),
    );
  };
  afterEach(() => vi.unstubAllEnvs());

  it("open a user's connection again without KMS (by default), and every time with keyCacheSeconds 0", async () => {
    const cached = configuredVault();
    await cached.put(alice, connection("alice-token"));
    for (let call = 0; call < 3; call++) expect((await cached.get(alice))?.accessToken).toBe("alice-token");
    expect(decrypts()).toBe(1);
    const uncached = configuredVault(0);
    for (let call = 0; call < 3; call++) expect((await uncached.get(alice))?.accessToken).toBe("alice-token");
    expect(decrypts()).toBe(4);
  });

  it("are asked of KMS again once their time is up, and the oldest go first when the cache is full", async () => {
    let now = 0;
    const keys = withUnwrapCache(kmsKeyWrapper(kms(), KEY_ID), { ttlMs: 1000, maxEntries: 2, now: () => now });
    const vault = new TokenVault(db.pool, keys);
    for (const owner of [alice, bob, carol]) await vault.put(owner, connection(`${owner.sub}-token`));
    await vault.get(alice);
    await vault.get(alice);
    expect(decrypts()).toBe(1);
    now = 1001;
    await vault.get(alice);
    expect(decrypts()).toBe(2);
    await vault.get(bob);
    await vault.get(carol);
    expect(decrypts()).toBe(4);
    expect((await vault.get(alice))?.accessToken).toBe("alice-sub-token");
    expect(decrypts()).toBe(5);
  });

  it("never open a row moved to another user, even while the first user's key is kept", async () => {
    const vault = configuredVault();
    await vault.put(alice, connection("alice-token"));
    await vault.get(alice);
    await db.pool.query("UPDATE upstream_tokens SET user_sub = 'mallory-sub'");
    await expect(vault.get({ sub: "mallory-sub", server: "crm" })).rejects.toMatchObject({ name: "InvalidCiphertextException" });
  });

  it("do not delay a revocation: a revoked connection is gone at its next use", async () => {
    const vault = configuredVault();
    await vault.put(alice, connection("alice-token"));
    expect((await vault.get(alice))?.accessToken).toBe("alice-token");
    expect(await vault.revoke({ sub: alice.sub })).toBe(1);
    expect(await vault.get(alice)).toBeUndefined();
  });
});
