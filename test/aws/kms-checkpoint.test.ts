import { verify } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createCheckpointer } from "../../aws/origin/audit/checkpoint/checkpointer.ts";
import { checkpointSignerFromConfig } from "../../aws/origin/audit/checkpoint/from-config.ts";
import { kmsCheckpointSigner } from "../../aws/origin/audit/checkpoint/kms/kms-signer.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { auditEvent, resetAudit, verifyAll } from "../origin/audit-chain-fixture.ts";
import { type TestDatabase, withTestDatabase } from "../origin/database.ts";
import { type FakeKms, type FakeKmsKey, fakeKmsClient, startFakeKms } from "./kms-fake.ts";

const KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab";

describe("KMS checkpoint signer (against a local server speaking the KMS protocol)", () => {
  let fake: FakeKms;
  let key: FakeKmsKey;
  let db: TestDatabase;
  const client = () => fakeKmsClient(fake);

  beforeAll(async () => {
    fake = await startFakeKms();
    key = fake.addKey(KEY_ID);
    fake.addKey("rsa-key", "RSA_2048");
    db = await withTestDatabase();
    await migrate(db.pool);
  });
  afterAll(async () => {
    await fake?.close();
    await db?.close();
  });
  beforeEach(async () => {
    fake.requests.length = 0;
    fake.failing = false;
    await resetAudit(db.pool);
  });

  it("signs with Sign (ECDSA_SHA_256 over the raw payload) in signed requests, asking for the public key once", async () => {
    const signer = kmsCheckpointSigner(client(), KEY_ID);
    const payload = Buffer.from('{"chain":1,"seq":1}');
    const signature = await signer.sign(payload);
    await signer.sign(payload);
    expect(verify("sha256", payload, { key: key.publicKey, dsaEncoding: "der" }, signature)).toBe(true);
    expect(await signer.describe()).toEqual({ keyId: key.arn, publicKey: key.publicKey.export({ format: "der", type: "spki" }) });
    expect(fake.requests).toEqual([
      { target: "TrentService.GetPublicKey", keyId: KEY_ID, signed: true, region: "eu-west-1" },
      { target: "TrentService.Sign", keyId: key.arn, signed: true, region: "eu-west-1" },
      { target: "TrentService.Sign", keyId: key.arn, signed: true, region: "eu-west-1" },
    ]);
  });

  it("signs the chains' heads as the origin does, and verify accepts them against the KMS public key only", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE00000");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "placeholder-not-a-secret");
    try {
      const config = OriginConfig.parse({
        publicUrl: "https://origin.example.com",
        edgeIssuer: "https://edge.example.com",
        audit: { checkpoints: { signer: "kms", kmsKeyId: KEY_ID, kmsRegion: "eu-west-1", kmsEndpoint: fake.endpoint } },
      });
      const signer = await checkpointSignerFromConfig(config.audit.checkpoints, () => {});
      const checkpoints = createCheckpointer({ pool: db.pool, signer, everyRows: 5, everySeconds: 3600, log: () => {} });
      await createAuditStore(db.pool, { onHead: checkpoints.noteHead }).insert(Array.from({ length: 6 }, () => auditEvent()));
      await checkpoints.stop();
      expect(fake.requests.map((request) => request.target)).toEqual(["TrentService.GetPublicKey", "TrentService.Sign"]);
      expect(fake.requests.every((request) => request.signed)).toBe(true);
      expect(await verifyAll(db.pool, { trustedKeys: [key.publicKey] })).toEqual({ problems: [], rows: 6, checkpoints: 1 });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("refuses a key that cannot sign checkpoints, naming its spec", async () => {
    await expect(kmsCheckpointSigner(client(), "rsa-key").sign(Buffer.from("x"))).rejects.toThrow(
      "KMS key rsa-key cannot sign audit checkpoints: expected key spec ECC_NIST_P256 with usage SIGN_VERIFY, got RSA_2048 (SIGN_VERIFY)",
    );
    await expect(kmsCheckpointSigner(client(), "no-such-key").sign(Buffer.from("x"))).rejects.toThrow(/does not exist/);
  });

  it("while KMS is away, logs each failed checkpoint and signs the head once it is back", async () => {
    const lines: string[] = [];
    const signer = kmsCheckpointSigner(client(), KEY_ID);
    const checkpoints = createCheckpointer({
      pool: db.pool,
      signer,
      everyRows: 1,
      everySeconds: 3600,
      log: (line) => lines.push(line),
    });
    fake.failing = true;
    await createAuditStore(db.pool, { onHead: checkpoints.noteHead }).insert([auditEvent()]);
    await checkpoints.stop();
    expect(lines).toEqual([expect.stringMatching(/^audit checkpoint failed \(signed again later\): simulated outage/)]);
    fake.failing = false;
    await checkpoints.signHeads();
    expect((await db.pool.query("SELECT seq::int AS seq FROM audit_checkpoints")).rows).toEqual([{ seq: 1 }]);
  });

  it("the fake refuses a request without a SigV4 signature, as KMS does", async () => {
    const response = await fetch(fake.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.Sign" },
      body: JSON.stringify({ KeyId: KEY_ID, Message: "eA==", MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256" }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      __type: "IncompleteSignatureException",
      message: "a SigV4-signed request is required",
    });
  });
});
