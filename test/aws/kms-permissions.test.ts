import { KMSClient } from "@aws-sdk/client-kms";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createCheckpointer } from "../../aws/origin/audit/checkpoint/checkpointer.ts";
import { checkpointSignerFromConfig } from "../../aws/origin/audit/checkpoint/from-config.ts";
import { createAuditStore } from "../../aws/origin/audit/store.ts";
import { migrate } from "../../aws/origin/db/migrate.ts";
import { vaultKeysFromConfig } from "../../aws/origin/vault/from-config.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { auditEvent } from "../origin/audit-chain-fixture.ts";
import { type TestDatabase, withTestDatabase } from "../origin/database.ts";
import { FAKE_KMS_CREDENTIALS, type FakeKms, type FakeKmsKey, type FakeKmsSymmetricKey, startFakeKms } from "./kms-fake.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

// The task role's KMS grants against the calls the origin really makes. The stack is synthesized with the fake KMS's
// keys as the operator's own (origin.auditCheckpointKeyArn, origin.upstreamVaultKeyArn), the origin's configuration is
// read from the synthesized container environment, and its checkpoint signer and token vault run against the fake:
// every call they make must be allowed by the role's policy (action, key ARN, conditions), or a deployed origin would
// be refused by KMS. The default deployment's grants are the same statements on the keys the stack creates
// (origin-keys.test.ts).

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};
type KmsCall = { action: string; resource: string; context: Record<string, string> };

/** What IAM sees of a KMS request: the action, the key's ARN, and the request's values of KMS condition keys. */
function kmsCall(command: { constructor: { name: string }; input: Record<string, unknown> }): KmsCall {
  const input = command.input as {
    KeyId?: string;
    MessageType?: string;
    SigningAlgorithm?: string;
    EncryptionContext?: Record<string, string>;
  };
  const context: Record<string, string> = {};
  if (input.MessageType) context["kms:MessageType"] = input.MessageType;
  if (input.SigningAlgorithm) context["kms:SigningAlgorithm"] = input.SigningAlgorithm;
  for (const [key, value] of Object.entries(input.EncryptionContext ?? {})) context[`kms:EncryptionContext:${key}`] = value;
  return { action: `kms:${command.constructor.name.replace(/Command$/, "")}`, resource: String(input.KeyId), context };
}

/** IAM's answer for one call under Allow statements with StringEquals conditions (anything else fails the test). */
function allowed(statements: Statement[], call: KmsCall): boolean {
  return statements.some((statement) => {
    expect(statement.Effect).toBe("Allow");
    if (![statement.Action].flat().includes(call.action)) return false;
    if (![statement.Resource].flat().includes(call.resource)) return false;
    return Object.entries(statement.Condition ?? {}).every(([operator, entries]) => {
      expect(operator, "a condition operator this evaluator knows").toBe("StringEquals");
      return Object.entries(entries).every(([key, value]) => [value].flat().includes(call.context[key]));
    });
  });
}

describe("the task role's KMS grants cover exactly the calls the origin makes", () => {
  let fake: FakeKms;
  let checkpointKey: FakeKmsKey;
  let vaultKey: FakeKmsSymmetricKey;
  let db: TestDatabase;
  let synth: Synthesized;
  let statements: Statement[];

  beforeAll(async () => {
    fake = await startFakeKms();
    checkpointKey = fake.addKey("1234abcd-12ab-34cd-56ef-1234567890ab");
    vaultKey = fake.addSymmetricKey("5678abcd-12ab-34cd-56ef-1234567890ab");
    db = await withTestDatabase();
    await migrate(db.pool);
    synth = synthesizeExample((config) => {
      config.origin.auditCheckpointKeyArn = checkpointKey.arn;
      config.origin.upstreamVaultKeyArn = vaultKey.arn;
    });
    const policies = resourcesOf(synth.serviceTemplate, "AWS::IAM::Policy").filter(([id]) =>
      id.startsWith("OriginTaskRoleDefaultPolicy"),
    );
    expect(policies).toHaveLength(1);
    const [[, policy]] = policies as [[string, { PolicyDocument: { Statement: Statement[] } }]];
    statements = policy.PolicyDocument.Statement.filter((statement) =>
      [statement.Action].flat().some((action) => action.startsWith("kms:")),
    );
  });
  afterAll(async () => {
    await fake?.close();
    await db?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("allows every call of the checkpoint signer and the token vault configured from the task's environment", async () => {
    const [origin] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition")
      .flatMap(([, task]) => task.ContainerDefinitions as { Name: string; Environment: { Name: string; Value: unknown }[] }[])
      .filter((container) => container.Name === "origin");
    const env = Object.fromEntries(
      (origin?.Environment ?? []).map(({ Name, Value }) => [Name, typeof Value === "string" ? Value : `resolved-${Name}`]),
    );
    // Only the endpoint is the test's: the fake stands where KMS would be.
    const config = loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
      env,
      file: {
        path: "test",
        content: { audit: { checkpoints: { kmsEndpoint: fake.endpoint } }, upstreamVault: { kmsEndpoint: fake.endpoint } },
      },
    });
    vi.stubEnv("AWS_ACCESS_KEY_ID", FAKE_KMS_CREDENTIALS.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", FAKE_KMS_CREDENTIALS.secretAccessKey);
    const sent = vi.spyOn(KMSClient.prototype, "send");
    const log: string[] = [];

    const signer = await checkpointSignerFromConfig(config.audit.checkpoints, (line) => log.push(line));
    const checkpoints = createCheckpointer({
      pool: db.pool,
      signer,
      everyRows: 2,
      everySeconds: 3600,
      log: (line) => log.push(line),
    });
    await createAuditStore(db.pool, { onHead: checkpoints.noteHead }).insert([auditEvent(), auditEvent()]);
    await checkpoints.stop();
    expect((await db.pool.query("SELECT count(*)::int AS n FROM audit_checkpoints")).rows).toEqual([{ n: 1 }]);

    const vault = new TokenVault(
      db.pool,
      vaultKeysFromConfig(config.upstreamVault, (line) => log.push(line)),
    );
    const owner = { sub: "alice-sub", email: "alice@example.com", server: "crm" };
    const connection = { accessToken: "token", client: { client_id: "client-1" }, issuer: "https://as.example.com" };
    await vault.put(owner, connection);
    expect(await vault.get(owner)).toEqual(connection);
    expect(log).toEqual([]); // no key made for this run

    const calls = sent.mock.calls.map(([command]) => kmsCall(command as never));
    expect(calls.map((call) => call.action)).toEqual(["kms:GetPublicKey", "kms:Sign", "kms:GenerateDataKey", "kms:Decrypt"]);
    for (const call of calls) expect(allowed(statements, call), JSON.stringify(call)).toBe(true);
    // And nothing is granted that the origin does not call.
    const granted = statements.flatMap((statement) => [statement.Action].flat()).sort();
    expect(granted).toEqual([...new Set(calls.map((call) => call.action))].sort());
  });

  it("refuses what the origin never asks: a digest to sign, another encryption context, one key's use on the other", () => {
    const sign = {
      action: "kms:Sign",
      resource: checkpointKey.arn,
      context: { "kms:MessageType": "RAW", "kms:SigningAlgorithm": "ECDSA_SHA_256" },
    };
    const dataKey = {
      action: "kms:GenerateDataKey",
      resource: vaultKey.arn,
      context: { "kms:EncryptionContext:purpose": "upstream-token", "kms:EncryptionContext:sub": "alice-sub" },
    };
    expect(allowed(statements, sign)).toBe(true);
    expect(allowed(statements, dataKey)).toBe(true);
    expect(allowed(statements, { ...sign, context: { ...sign.context, "kms:MessageType": "DIGEST" } })).toBe(false);
    expect(allowed(statements, { ...dataKey, context: { "kms:EncryptionContext:purpose": "something-else" } })).toBe(false);
    expect(allowed(statements, { ...dataKey, context: {} })).toBe(false);
    expect(allowed(statements, { ...dataKey, action: "kms:Decrypt", resource: checkpointKey.arn })).toBe(false);
    expect(allowed(statements, { ...sign, resource: vaultKey.arn })).toBe(false);
    expect(allowed(statements, { ...dataKey, action: "kms:Encrypt" })).toBe(false);
  });
});
