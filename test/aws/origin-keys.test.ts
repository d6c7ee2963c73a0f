import { beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_DEPLOY_CONFIG, loadDeployConfig, parseDeployConfig } from "../../aws/cdk/config/load-deploy-config.ts";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

// The origin's customer-managed KMS keys: created by default in the data stack, named in the tasks' configuration,
// and usable by the task role only as the origin uses them.

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Environment = { Name: string; Value: unknown }[];
type Template = Synthesized["dataTemplate"];

const CHECKPOINT_KEY_ARN = "arn:aws:kms:eu-central-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const VAULT_KEY_ARN = "arn:aws:kms:eu-central-1:222222222222:key/mrk-0123456789abcdef0123456789abcdef";

/** Every statement of the origin task role's policy. */
function taskRoleStatements(template: Template): Statement[] {
  const policies = resourcesOf(template, "AWS::IAM::Policy").filter(([id]) => id.startsWith("OriginTaskRoleDefaultPolicy"));
  expect(policies).toHaveLength(1);
  const [[, policy]] = policies as [[string, { PolicyDocument: { Statement: Statement[] } }]];
  return policy.PolicyDocument.Statement;
}

/** Every Allow statement of any IAM policy or role in a template that names a KMS action. */
function kmsStatements(template: Template): Statement[] {
  const documents = [
    ...resourcesOf(template, "AWS::IAM::Policy").map(([, policy]) => policy.PolicyDocument),
    ...resourcesOf(template, "AWS::IAM::ManagedPolicy").map(([, policy]) => policy.PolicyDocument),
    ...resourcesOf(template, "AWS::IAM::Role").flatMap(([, role]) =>
      ((role.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map((policy) => policy.PolicyDocument),
    ),
  ] as { Statement: Statement[] }[];
  return documents
    .flatMap((document) => document.Statement)
    .filter((statement) => [statement.Action].flat().some((action) => action.startsWith("kms:")));
}

/**
 * The logical id of the data stack resource whose ARN a service stack value imports (`Fn::ImportValue` of the data
 * stack's `Fn::GetAtt [id, Arn]` export), or the value itself when it is a plain string.
 */
function arnSource(synth: Synthesized, value: unknown): string {
  if (typeof value === "string") return value;
  const name = (value as { "Fn::ImportValue"?: string })["Fn::ImportValue"];
  expect(name, JSON.stringify(value)).toBeTypeOf("string");
  const outputs = synth.dataTemplate.toJSON().Outputs as Record<string, { Value: unknown; Export?: { Name: string } }>;
  const exported = Object.values(outputs).find((output) => output.Export?.Name === name);
  expect(exported, `the data stack's export ${name}`).toBeDefined();
  const [id, attribute] = (exported as { Value: { "Fn::GetAtt": [string, string] } }).Value["Fn::GetAtt"];
  expect(attribute).toBe("Arn");
  return id;
}

/** The origin container's environment. */
function originEnvironment(template: Template): Environment {
  const containers = resourcesOf(template, "AWS::ECS::TaskDefinition").flatMap(
    ([, task]) => task.ContainerDefinitions as { Name: string; Environment: Environment }[],
  );
  const origin = containers.find((container) => container.Name === "origin");
  expect(origin).toBeDefined();
  return origin?.Environment ?? [];
}

/** The KMS statements of the task role, by Sid, with their resources traced back to the data stack. */
function kmsGrants(synth: Synthesized) {
  return kmsStatements(synth.serviceTemplate).map((statement) => ({
    sid: statement.Sid,
    effect: statement.Effect,
    actions: [statement.Action].flat().sort(),
    resources: [statement.Resource].flat().map((resource) => arnSource(synth, resource)),
    condition: statement.Condition,
  }));
}

describe("the origin's KMS keys, created by default (example configuration)", () => {
  let synth: Synthesized;
  let checkpointKeyId: string;
  let vaultKeyId: string;

  beforeAll(() => {
    synth = synthesizeExample();
    const keys = resourcesOf(synth.dataTemplate, "AWS::KMS::Key");
    expect(keys).toHaveLength(2);
    checkpointKeyId = keys.find(([, key]) => key.KeySpec === "ECC_NIST_P256")?.[0] as string;
    vaultKeyId = keys.find(([, key]) => key.KeySpec === "SYMMETRIC_DEFAULT")?.[0] as string;
  });

  it("creates an ECC_NIST_P256 signing key and a rotated symmetric key, both retained, in the data stack only", () => {
    synth.dataTemplate.hasResource("AWS::KMS::Key", {
      Properties: { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" },
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
    synth.dataTemplate.hasResource("AWS::KMS::Key", {
      Properties: { KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", EnableKeyRotation: true },
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
    // An asymmetric key cannot rotate: the property must be absent there, not false-by-accident on the vault key.
    const keys = synth.dataTemplate.toJSON().Resources;
    expect(keys[checkpointKeyId].Properties.EnableKeyRotation).toBeUndefined();
    expect(synth.data.terminationProtection).toBe(true);
    synth.serviceTemplate.resourceCountIs("AWS::KMS::Key", 0);
  });

  it("names them with aliases that follow the deployment's name", () => {
    const aliases = resourcesOf(synth.dataTemplate, "AWS::KMS::Alias").map(([, alias]) => [
      alias.AliasName,
      (alias.TargetKeyId as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0],
    ]);
    expect(aliases.sort()).toEqual(
      [
        ["alias/mcp-edge-proxy-audit-checkpoints", checkpointKeyId],
        ["alias/mcp-edge-proxy-upstream-vault", vaultKeyId],
      ].sort(),
    );
  });

  it("lets the task role Sign (ECDSA_SHA_256, RAW) and GetPublicKey on the checkpoint key, GenerateDataKey and Decrypt on the vault key under the vault's context, and nothing else", () => {
    expect(kmsGrants(synth).sort((a, b) => String(a.sid).localeCompare(String(b.sid)))).toEqual([
      {
        sid: "ReadAuditCheckpointPublicKey",
        effect: "Allow",
        actions: ["kms:GetPublicKey"],
        resources: [checkpointKeyId],
        condition: undefined,
      },
      {
        sid: "SignAuditCheckpoints",
        effect: "Allow",
        actions: ["kms:Sign"],
        resources: [checkpointKeyId],
        condition: { StringEquals: { "kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW" } },
      },
      {
        sid: "UpstreamVaultDataKeys",
        effect: "Allow",
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: [vaultKeyId],
        condition: { StringEquals: { "kms:EncryptionContext:purpose": "upstream-token" } },
      },
    ]);
    // Every KMS statement of the service stack is the task role's; none in the data stack's IAM policies.
    expect(
      taskRoleStatements(synth.serviceTemplate).filter((statement) => String(statement.Action).startsWith("kms:")),
    ).toHaveLength(3);
    expect(kmsStatements(synth.dataTemplate)).toEqual([]);
  });

  it("grants KMS on no wildcard resource anywhere", () => {
    for (const template of [synth.dataTemplate, synth.serviceTemplate]) {
      for (const statement of kmsStatements(template)) {
        for (const resource of [statement.Resource].flat()) {
          expect(resource, JSON.stringify(statement)).not.toBe("*");
          expect(JSON.stringify(resource)).not.toContain("*");
        }
      }
    }
  });

  it("gives the origin container both keys: checkpoints signed by KMS, the vault wrapped by KMS, in the stack's region", () => {
    const environment = new Map(originEnvironment(synth.serviceTemplate).map((variable) => [variable.Name, variable.Value]));
    expect(environment.get("AUDIT_CHECKPOINT_SIGNER")).toBe("kms");
    expect(arnSource(synth, environment.get("AUDIT_CHECKPOINT_KMS_KEY_ID"))).toBe(checkpointKeyId);
    expect(environment.get("AUDIT_CHECKPOINT_KMS_REGION")).toBe("eu-west-1");
    expect(arnSource(synth, environment.get("UPSTREAM_VAULT_KMS_KEY_ID"))).toBe(vaultKeyId);
    expect(environment.get("UPSTREAM_VAULT_KMS_REGION")).toBe("eu-west-1");
  });

  it("is read by the origin's own configuration loader as signer kms and the vault's kmsKeyId", () => {
    // The environment as ECS would give it, with each key's import standing for the ARN CloudFormation resolves
    // (and the database's endpoint, the other import, for a host name).
    const resolved = (name: string, value: unknown) => {
      if (typeof value === "string") return value;
      if (name.endsWith("_KMS_KEY_ID")) return `arn:aws:kms:eu-west-1:111111111111:key/${arnSource(synth, value)}`;
      return `resolved-${name.toLowerCase()}`;
    };
    const env = Object.fromEntries(
      originEnvironment(synth.serviceTemplate).map(({ Name, Value }) => [Name, resolved(Name, Value)]),
    );
    const origin = loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env });
    expect(origin.audit.checkpoints).toMatchObject({
      signer: "kms",
      kmsKeyId: `arn:aws:kms:eu-west-1:111111111111:key/${checkpointKeyId}`,
      kmsRegion: "eu-west-1",
    });
    expect(origin.upstreamVault).toMatchObject({
      kmsKeyId: `arn:aws:kms:eu-west-1:111111111111:key/${vaultKeyId}`,
      kmsRegion: "eu-west-1",
    });
    expect(origin.upstreamVault.localKey).toBeUndefined();
  });

  it("outputs the checkpoint key's ARN (and the vault key's) from the data stack", () => {
    const outputs = synth.dataTemplate.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    expect(outputs.AuditCheckpointKeyArn?.Value).toEqual({ "Fn::GetAtt": [checkpointKeyId, "Arn"] });
    expect(outputs.AuditCheckpointKeyArn?.Description).toContain("aws kms get-public-key");
    expect(outputs.UpstreamVaultKeyArn?.Value).toEqual({ "Fn::GetAtt": [vaultKeyId, "Arn"] });
  });
});

describe("the origin's KMS keys, brought by the operator (origin.auditCheckpointKeyArn, origin.upstreamVaultKeyArn)", () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample((config) => {
      config.origin.auditCheckpointKeyArn = CHECKPOINT_KEY_ARN;
      config.origin.upstreamVaultKeyArn = VAULT_KEY_ARN;
    });
  });

  it("creates no key and grants the task role the same actions on exactly the named keys", () => {
    synth.dataTemplate.resourceCountIs("AWS::KMS::Key", 0);
    synth.dataTemplate.resourceCountIs("AWS::KMS::Alias", 0);
    const grants = new Map(kmsGrants(synth).map((grant) => [grant.sid, grant]));
    expect(grants.get("SignAuditCheckpoints")).toMatchObject({ actions: ["kms:Sign"], resources: [CHECKPOINT_KEY_ARN] });
    expect(grants.get("ReadAuditCheckpointPublicKey")).toMatchObject({
      actions: ["kms:GetPublicKey"],
      resources: [CHECKPOINT_KEY_ARN],
    });
    expect(grants.get("UpstreamVaultDataKeys")).toMatchObject({
      actions: ["kms:Decrypt", "kms:GenerateDataKey"],
      resources: [VAULT_KEY_ARN],
    });
    expect(grants.size).toBe(3);
  });

  it("gives the origin the named keys, calling KMS in each key's own region", () => {
    const environment = new Map(originEnvironment(synth.serviceTemplate).map((variable) => [variable.Name, variable.Value]));
    expect(environment.get("AUDIT_CHECKPOINT_SIGNER")).toBe("kms");
    expect(environment.get("AUDIT_CHECKPOINT_KMS_KEY_ID")).toBe(CHECKPOINT_KEY_ARN);
    expect(environment.get("AUDIT_CHECKPOINT_KMS_REGION")).toBe("eu-central-1");
    expect(environment.get("UPSTREAM_VAULT_KMS_KEY_ID")).toBe(VAULT_KEY_ARN);
    expect(environment.get("UPSTREAM_VAULT_KMS_REGION")).toBe("eu-central-1");
    const outputs = synth.dataTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.AuditCheckpointKeyArn?.Value).toBe(CHECKPOINT_KEY_ARN);
  });

  it("may bring one key and let the stack create the other", () => {
    const one = synthesizeExample((config) => {
      config.origin.upstreamVaultKeyArn = VAULT_KEY_ARN;
    });
    one.dataTemplate.resourceCountIs("AWS::KMS::Key", 1);
    one.dataTemplate.hasResourceProperties("AWS::KMS::Key", { KeySpec: "ECC_NIST_P256" });
    const environment = new Map(originEnvironment(one.serviceTemplate).map((variable) => [variable.Name, variable.Value]));
    expect(environment.get("UPSTREAM_VAULT_KMS_KEY_ID")).toBe(VAULT_KEY_ARN);
    expect(environment.get("AUDIT_CHECKPOINT_KMS_KEY_ID")).toHaveProperty("Fn::ImportValue");
  });
});

describe("validation of the operator's key ARNs", () => {
  const example = () => loadDeployConfig(EXAMPLE_DEPLOY_CONFIG) as unknown as { origin: Record<string, unknown> };

  it.each([
    ["an alias", "arn:aws:kms:eu-west-1:111111111111:alias/mcp-audit-checkpoints"],
    ["a bare key id", "1234abcd-12ab-34cd-56ef-1234567890ab"],
    ["another service's ARN", "arn:aws:secretsmanager:eu-west-1:111111111111:secret:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
  ])("refuses %s, saying a key ARN is expected", (_, arn) => {
    for (const key of ["auditCheckpointKeyArn", "upstreamVaultKeyArn"]) {
      const config = example();
      config.origin[key] = arn;
      expect(() => parseDeployConfig(config, "deploy.json")).toThrow(
        `deploy.json: origin.${key}: expected a KMS key ARN such as arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab (the key's ARN, not an alias or a bare key id)`,
      );
    }
  });

  it("refuses one key for both purposes", () => {
    const config = example();
    config.origin.auditCheckpointKeyArn = CHECKPOINT_KEY_ARN;
    config.origin.upstreamVaultKeyArn = CHECKPOINT_KEY_ARN;
    expect(() => parseDeployConfig(config, "deploy.json")).toThrow(
      /deploy\.json: origin\.upstreamVaultKeyArn: expected a key other than auditCheckpointKeyArn/,
    );
  });

  it("accepts key ARNs, single- and multi-Region", () => {
    const config = example();
    config.origin.auditCheckpointKeyArn = CHECKPOINT_KEY_ARN;
    config.origin.upstreamVaultKeyArn = VAULT_KEY_ARN;
    expect(parseDeployConfig(config, "deploy.json").origin).toMatchObject({
      auditCheckpointKeyArn: CHECKPOINT_KEY_ARN,
      upstreamVaultKeyArn: VAULT_KEY_ARN,
    });
  });
});
