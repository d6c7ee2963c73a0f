import { Token } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCloudflareIpRanges } from "../../aws/cdk/cloudflare-ips.ts";
import { parseSharedKeySet } from "../../contract/edge-shared-key.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

type Statement = { Effect: string; Action: string | string[]; Resource?: unknown };
type Container = {
  Name: string;
  Environment?: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
};

/** The origin's credentials: they must only ever arrive as ECS secrets. */
const CREDENTIALS = ["PGUSER", "REQUEST_STATE_KEY", "UPSTREAM_IDENTITY_SIGNING_KEY"];
/**
 * Variables that name a secret and hold its ARN, never its value (the origin reads the value itself). Their names
 * would otherwise look like a credential's.
 */
const SECRET_REFERENCES = ["DATABASE_PASSWORD_SECRET"];
/** The migrate init container's: the master user's login, and the origin role's name and password to set. */
const MIGRATE_CREDENTIALS = ["PGUSER", "PGPASSWORD", "DATABASE_APP_USER", "DATABASE_APP_PASSWORD"];

describe("AWS tier security properties (aws-cdk-lib/assertions on the example configuration)", () => {
  let synth: Synthesized;
  const templates = () => [synth.dataTemplate, synth.serviceTemplate];

  beforeAll(() => {
    synth = synthesizeExample();
  });

  it("admits HTTPS to the ALB only from Cloudflare's published ranges", () => {
    const cloudflare = loadCloudflareIpRanges();
    const albGroups = resourcesOf(synth.serviceTemplate, "AWS::ElasticLoadBalancingV2::LoadBalancer").flatMap(
      ([, alb]) => alb.SecurityGroups as { "Fn::GetAtt": [string, string] }[],
    );
    expect(albGroups).toHaveLength(1);
    const [groupId] = (albGroups[0] as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"];
    const group = synth.serviceTemplate.toJSON().Resources[groupId].Properties as {
      SecurityGroupIngress: { CidrIp?: string; CidrIpv6?: string; FromPort: number; ToPort: number; IpProtocol: string }[];
    };
    const ingress = group.SecurityGroupIngress;
    expect(ingress.map((rule) => rule.CidrIp).sort()).toEqual([...cloudflare.ipv4].sort());
    for (const rule of ingress) expect(rule).toMatchObject({ IpProtocol: "tcp", FromPort: 443, ToPort: 443 });
    // No separate ingress resource widens it, and nothing anywhere is open to the whole internet.
    const extra = resourcesOf(synth.serviceTemplate, "AWS::EC2::SecurityGroupIngress").filter(([, rule]) =>
      JSON.stringify(rule.GroupId).includes(groupId),
    );
    expect(extra).toEqual([]);
    for (const template of templates()) {
      // Every other security group admits traffic only from other security groups, never from addresses.
      for (const [id, other] of resourcesOf(template, "AWS::EC2::SecurityGroup")) {
        if (id !== groupId) expect(other.SecurityGroupIngress, id).toBeUndefined();
      }
      for (const [, rule] of resourcesOf(template, "AWS::EC2::SecurityGroupIngress")) {
        expect(rule.CidrIp).toBeUndefined();
        expect(rule.CidrIpv6).toBeUndefined();
      }
    }
  });

  it("serves HTTPS with a certificate and keeps a user on one origin task with the MCP_ORIGIN cookie for a day", () => {
    synth.serviceTemplate.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Port: 443,
      Protocol: "HTTPS",
      Certificates: [{ CertificateArn: Match.anyValue() }],
    });
    synth.serviceTemplate.resourceCountIs("AWS::ElasticLoadBalancingV2::Listener", 1);
    synth.serviceTemplate.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
      HealthCheckPath: "/healthz",
      TargetGroupAttributes: Match.arrayWith([
        { Key: "stickiness.enabled", Value: "true" },
        { Key: "stickiness.type", Value: "app_cookie" },
        { Key: "stickiness.app_cookie.cookie_name", Value: "MCP_ORIGIN" },
        { Key: "stickiness.app_cookie.duration_seconds", Value: "86400" },
      ]),
    });
  });

  it("keeps the database private, encrypted, backed up and protected from deletion", () => {
    synth.dataTemplate.hasResourceProperties("AWS::RDS::DBInstance", {
      StorageEncrypted: true,
      PubliclyAccessible: false,
      DeletionProtection: true,
      BackupRetentionPeriod: synth.config.database.backupRetentionDays,
      Engine: "postgres",
    });
    synth.dataTemplate.hasResource("AWS::RDS::DBInstance", { DeletionPolicy: "Snapshot" });
    // Its subnets are the isolated ones: no route to or from the internet.
    const [[, subnetGroup]] = resourcesOf(synth.dataTemplate, "AWS::RDS::DBSubnetGroup") as [
      [string, { SubnetIds: { Ref: string }[] }],
    ];
    const resources = synth.dataTemplate.toJSON().Resources;
    for (const { Ref } of subnetGroup.SubnetIds) {
      expect(resources[Ref].Properties.MapPublicIpOnLaunch).toBe(false);
      const tags = resources[Ref].Properties.Tags as { Key: string; Value: string }[];
      expect(tags).toContainEqual({ Key: "aws-cdk:subnet-type", Value: "Isolated" });
    }
    // Only the origin's tasks may connect to it.
    const toDatabase = resourcesOf(synth.serviceTemplate, "AWS::EC2::SecurityGroupIngress").filter(
      ([, rule]) => rule.FromPort === 5432,
    );
    expect(toDatabase).toHaveLength(1);
    expect(JSON.stringify(toDatabase[0]?.[1].SourceSecurityGroupId)).toContain("OriginServiceSecurityGroup");
    // The master user's password and the origin role's, each rotated.
    synth.dataTemplate.resourceCountIs("AWS::SecretsManager::RotationSchedule", 2);
  });

  it("puts no secret in any container's environment: credentials arrive only as ECS secrets", () => {
    const definitions = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    expect(definitions).toHaveLength(1);
    for (const [, definition] of definitions) {
      for (const container of definition.ContainerDefinitions as Container[]) {
        const environment = container.Environment ?? [];
        const names = environment.map((variable) => variable.Name);
        for (const credential of [...CREDENTIALS, ...MIGRATE_CREDENTIALS]) expect(names).not.toContain(credential);
        for (const name of names.filter((each) => !SECRET_REFERENCES.includes(each)))
          expect(name).not.toMatch(/PASSWORD|TOKEN|PRIVATE|_KEY$/);
        for (const reference of environment.filter((variable) => SECRET_REFERENCES.includes(variable.Name)))
          expect(reference.Value, reference.Name).toEqual({ "Fn::ImportValue": expect.stringMatching(/:ExportsOutputRef\w+$/) });
        const values = JSON.stringify(environment.map((variable) => variable.Value));
        expect(values).not.toMatch(/resolve:secretsmanager|SecretString|AWS::SecretsManager/);
        const expected = container.Name === "migrate" ? MIGRATE_CREDENTIALS : CREDENTIALS;
        expect((container.Secrets ?? []).map((secret) => secret.Name).sort(), container.Name).toEqual([...expected].sort());
      }
    }
    for (const template of templates()) {
      const functions = resourcesOf(template, "AWS::Lambda::Function");
      expect(JSON.stringify(functions)).not.toMatch(/resolve:secretsmanager/);
    }
  });

  it("runs the origin with an init process, without the capabilities it never needs", () => {
    const [[, definition] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    const [container] = (definition?.ContainerDefinitions ?? []) as {
      LinuxParameters?: { InitProcessEnabled?: boolean; Capabilities?: { Drop?: string[] } };
    }[];
    expect(container?.LinuxParameters?.InitProcessEnabled).toBe(true);
    const dropped = container?.LinuxParameters?.Capabilities?.Drop ?? [];
    expect(dropped).toEqual(expect.arrayContaining(["NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP"]));
    // What switching a stdio child to its own user needs stays.
    for (const kept of ["SETUID", "SETGID", "SETPCAP", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER"])
      expect(dropped).not.toContain(kept);
  });

  it("grants no wildcard IAM action (on data or anything else)", () => {
    let statements = 0;
    for (const template of templates()) {
      const policies = [
        ...resourcesOf(template, "AWS::IAM::Policy").map(([, policy]) => policy.PolicyDocument),
        ...resourcesOf(template, "AWS::IAM::ManagedPolicy").map(([, policy]) => policy.PolicyDocument),
        ...resourcesOf(template, "AWS::IAM::Role").flatMap(([, role]) =>
          ((role.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map((policy) => policy.PolicyDocument),
        ),
      ] as { Statement: Statement[] }[];
      for (const statement of policies.flatMap((policy) => policy.Statement)) {
        if (statement.Effect !== "Allow") continue;
        statements += 1;
        for (const action of [statement.Action].flat()) expect(action, JSON.stringify(statement)).not.toContain("*");
      }
    }
    expect(statements).toBeGreaterThan(5);
  });

  it("lets the task role read exactly the upstream credentials and its database password, use its KMS keys, and no managed policy anywhere", () => {
    const upstream = resourcesOf(synth.dataTemplate, "AWS::SecretsManager::Secret").filter(([, secret]) =>
      String(secret.Name).includes("/upstream/"),
    );
    expect(upstream).toHaveLength(synth.config.origin.upstreamSecrets.length);
    const taskRolePolicy = resourcesOf(synth.serviceTemplate, "AWS::IAM::Policy").find(([id]) =>
      id.startsWith("OriginTaskRoleDefaultPolicy"),
    );
    expect(taskRolePolicy, "the task role's policy").toBeDefined();
    const statements = ((taskRolePolicy as [string, Record<string, unknown>])[1].PolicyDocument as { Statement: Statement[] })
      .Statement;
    // The KMS actions are the origin's own uses of its two keys (origin-keys.test.ts has their resources and conditions).
    // The upstream credentials (grantRead), the origin role's database password (GetSecretValue alone).
    expect(statements.flatMap((statement) => [statement.Action].flat()).sort()).toEqual([
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "kms:GetPublicKey",
      "kms:Sign",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:GetSecretValue",
    ]);
    for (const template of templates()) {
      for (const [, role] of resourcesOf(template, "AWS::IAM::Role")) expect(role.ManagedPolicyArns).toBeUndefined();
    }
    // Of the database logins, the origin role's alone (its pool reads the password); the master's never: the execution
    // role hands it to the migrate container at start (db-roles-task.test.ts).
    expect(JSON.stringify(statements)).not.toMatch(/DatabaseInstanceSecret/);
    expect(JSON.stringify(statements).match(/DatabaseAppSecret/g)).toHaveLength(1);
  });
});

type Mapped = Container & { PortMappings: { ContainerPort: number }[] };

/** The origin's container definition in a synthesized service stack. */
const originContainer = (template: Synthesized["serviceTemplate"]): Mapped | undefined =>
  resourcesOf(template, "AWS::ECS::TaskDefinition")
    .flatMap(([, task]) => task.ContainerDefinitions as Mapped[])
    .find((container) => container.Name === "origin");

describe("the origin's metrics port (origin.metricsPort)", () => {
  const METRICS_PORT = 9464;
  type Ingress = { CidrIp?: unknown; FromPort: number; ToPort: number; SourceSecurityGroupId?: unknown };
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample((config) => {
      config.origin.metricsPort = METRICS_PORT;
    });
  });

  it("is served by each task (METRICS_PORT, a port mapping)", () => {
    const origin = originContainer(synth.serviceTemplate);
    expect(origin?.Environment).toContainEqual({ Name: "METRICS_PORT", Value: String(METRICS_PORT) });
    expect(origin?.PortMappings.map((mapping) => mapping.ContainerPort)).toContain(METRICS_PORT);
  });

  it("is open to the VPC's own address range only, and never from the load balancer", () => {
    const inline = resourcesOf(synth.serviceTemplate, "AWS::EC2::SecurityGroup").flatMap(
      ([, group]) => (group.SecurityGroupIngress as Ingress[] | undefined) ?? [],
    );
    const separate = resourcesOf(synth.serviceTemplate, "AWS::EC2::SecurityGroupIngress").map(
      ([, rule]) => rule as unknown as Ingress,
    );
    const toMetrics = [...inline, ...separate].filter((rule) => rule.FromPort <= METRICS_PORT && METRICS_PORT <= rule.ToPort);
    expect(toMetrics).toHaveLength(1);
    expect(toMetrics[0]?.SourceSecurityGroupId).toBeUndefined();
    // The new VPC's range as configured: a concrete value, which cdk-nag can read (next test).
    expect(toMetrics[0]?.CidrIp).toBe(synth.config.network.cidr);
  });

  it("passes cdk-nag's AwsSolutions checks, as `npm run cdk:synth` runs them", () => {
    // With the VPC's range as a reference to the data stack (resolved only at deploy), AwsSolutions-EC23 threw
    // ("Rule threw an error during validation") and stopped every synth of a deployment with a metrics port.
    for (const stack of [synth.data, synth.service]) {
      const report = new AwsSolutionsChecks().validateScope(stack);
      expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
    }
  });

  it("is open to an existing VPC's looked-up range, which cdk-nag can read too", () => {
    const existing = synthesizeExample((config) => {
      config.origin.metricsPort = METRICS_PORT;
      config.network.existingVpcId = "vpc-0123456789abcdef0";
    });
    const cidr = existing.data.network.vpc.vpcCidrBlock;
    expect(Token.isUnresolved(cidr)).toBe(false);
    existing.serviceTemplate.hasResourceProperties("AWS::EC2::SecurityGroup", {
      SecurityGroupIngress: Match.arrayWith([Match.objectLike({ CidrIp: cidr, FromPort: METRICS_PORT })]),
    });
    expect(new AwsSolutionsChecks().validateScope(existing.service).violations.map((violation) => violation.ruleName)).toEqual(
      [],
    );
  });

  it("is absent unless configured", () => {
    const origin = originContainer(synthesizeExample().serviceTemplate);
    expect(origin?.Environment?.some((variable) => variable.Name === "METRICS_PORT")).toBe(false);
    expect(origin?.PortMappings).toHaveLength(1);
  });
});

describe("an origin whose edge signs with a shared key (edgeKey: shared)", () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample((config) => {
      config.origin.edgeKey = "shared";
    });
  });

  it("gets the key from Secrets Manager as EDGE_ASSERTION_SHARED_KEYS, never in its environment", () => {
    const origin = originContainer(synth.serviceTemplate);
    expect(origin?.Secrets?.map((secret) => secret.Name)).toContain("EDGE_ASSERTION_SHARED_KEYS");
    expect(origin?.Environment?.map((variable) => variable.Name)).not.toContain("EDGE_ASSERTION_SHARED_KEYS");
  });

  it("has Secrets Manager generate a key both tiers accept: a JWK whose k is 48 bytes of base64url", () => {
    const [[, secret] = []] = resourcesOf(synth.dataTemplate, "AWS::SecretsManager::Secret").filter(([, properties]) =>
      JSON.stringify(properties.Name).includes("edge-shared-key"),
    );
    const generate = (secret as { GenerateSecretString: Record<string, unknown> }).GenerateSecretString;
    expect(generate).toMatchObject({ GenerateStringKey: "k", PasswordLength: 64, ExcludePunctuation: true });
    // What Secrets Manager makes from it: the template with `k` filled by 64 letters and digits.
    const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const k = Array.from(crypto.getRandomValues(new Uint8Array(64)), (byte) => letters[byte % letters.length]).join("");
    const made = JSON.stringify({ ...JSON.parse(generate.SecretStringTemplate as string), k });
    expect(parseSharedKeySet(made)).toEqual([{ kid: "mcp-edge-proxy-edge-shared", secret: expect.any(Uint8Array) }]);
    expect(parseSharedKeySet(made)[0]?.secret.byteLength).toBe(48);
  });

  it("is absent with the default EC key", () => {
    const origin = originContainer(synthesizeExample().serviceTemplate);
    expect(origin?.Secrets?.map((secret) => secret.Name)).not.toContain("EDGE_ASSERTION_SHARED_KEYS");
  });
});
