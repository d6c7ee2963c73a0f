import { readFileSync } from "node:fs";
import { Match } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_STORAGE_EVENTS, instanceClassMemoryGiB } from "../../aws/cdk/service/monitoring.ts";
import { ORIGIN_EVENTS_FLUSH_MS } from "../../aws/origin/audit/origin-events.ts";
import { ORIGIN_SHUTDOWN_GRACE_MS } from "../../aws/origin/start-origin.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

// What a review of the synthesized stacks found: each property here was missing or wrong in the template.

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };
type Alarm = {
  MetricName?: string;
  Namespace?: string;
  Statistic?: string;
  Threshold: number;
  ComparisonOperator: string;
  EvaluationPeriods: number;
  Period?: number;
  TreatMissingData: string;
  Dimensions?: { Name: string; Value: unknown }[];
  /** A math expression's queries, in place of one metric. */
  Metrics?: { MetricStat?: { Metric: Record<string, unknown> } }[];
  AlarmActions: unknown[];
};
type Rule = { EventPattern?: Record<string, unknown>; Targets: { Arn: unknown; InputTransformer?: unknown }[] };

const GiB = 1024 ** 3;
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");

const resources = (template: Synthesized["dataTemplate"]) =>
  (template.toJSON() as { Resources: Record<string, Resource> }).Resources;
const alarm = (synth: Synthesized, name: string): Alarm => {
  const found = resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Alarm").find(([id]) =>
    new RegExp(`^Monitoring${name}[0-9A-F]{8}$`).test(id),
  );
  if (!found) throw new Error(`no alarm ${name}`);
  return found[1] as unknown as Alarm;
};
const rules = (synth: Synthesized) => resourcesOf(synth.serviceTemplate, "AWS::Events::Rule").map(([, rule]) => rule as Rule);
const toTopic = { Ref: expect.stringMatching(/^MonitoringAlarms/) };
const originContainer = (synth: Synthesized) =>
  resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition")
    .flatMap(([, task]) => task.ContainerDefinitions as Record<string, unknown>[])
    .find((container) => container.Name === "origin") as {
    StopTimeout?: number;
    LinuxParameters?: { Capabilities?: { Drop?: string[] } };
  };

describe("the AWS tier's stacks, as a review of the template found them wanting", () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample();
  });

  it("does not page during storage autoscaling's normal growth, and reports the storage ceiling itself", () => {
    const storage = alarm(synth, "DatabaseStorage");
    const { allocatedStorageGiB, maxAllocatedStorageGiB } = synth.config.database;
    expect(storage.ComparisonOperator).toBe("LessThanThreshold");
    // Autoscaling grows the volume once free space is at or below 10% of the allocation, which is never smaller than
    // allocatedStorageGiB: the alarm stays below that, and waits longer than autoscaling takes to act (5 minutes).
    expect(storage.Threshold).toBeLessThan(0.1 * allocatedStorageGiB * GiB);
    expect(storage.Threshold).toBeGreaterThan(0);
    expect(storage.EvaluationPeriods * (storage.Period ?? 0)).toBeGreaterThanOrEqual(30 * 60);
    // Not tied to the ceiling: FreeStorageSpace is measured against the current allocation.
    const higher = synthesizeExample((config) => {
      config.database.maxAllocatedStorageGiB = maxAllocatedStorageGiB * 10;
    });
    expect(alarm(higher, "DatabaseStorage").Threshold).toBe(storage.Threshold);

    const storageRule = rules(synth).find((rule) => JSON.stringify(rule.EventPattern ?? {}).includes("RDS DB Instance Event"));
    expect(storageRule, "an EventBridge rule on the database's RDS events").toBeDefined();
    const pattern = storageRule?.EventPattern as { source: string[]; resources: unknown[]; detail: { EventID: string[] } };
    expect(pattern.source).toEqual(["aws.rds"]);
    expect(pattern.detail.EventID.sort()).toEqual(Object.keys(DATABASE_STORAGE_EVENTS).sort());
    expect(pattern.detail.EventID).toEqual(expect.arrayContaining(["RDS-EVENT-0224", "RDS-EVENT-0225"]));
    // Not the low-storage event that precedes every autoscaling step.
    expect(pattern.detail.EventID).not.toContain("RDS-EVENT-0089");
    // By the instance's ARN: an RDS event's detail names it as "rds:<id>" in SourceIdentifier, not by its id alone.
    expect(JSON.stringify(pattern.resources)).toMatch(/DatabaseInstance/);
    expect(JSON.stringify(pattern.resources)).toMatch(/arn:/);
    expect(pattern.detail).not.toHaveProperty("SourceIdentifier");
    expect(storageRule?.Targets).toEqual([expect.objectContaining({ Arn: toTopic })]);
  });

  it("reports failed rotations of either password, and redeploys nothing after a successful one", () => {
    const failed = rules(synth).find((rule) => JSON.stringify(rule.EventPattern ?? {}).includes("RotationFailed"));
    expect(failed, "an EventBridge rule on RotationFailed").toBeDefined();
    const { detail } = (failed?.EventPattern ?? {}) as {
      detail: { eventName: string[]; additionalEventData: { SecretId: unknown[] } };
    };
    expect(detail.eventName).toContain("RotationFailed");
    const secrets = JSON.stringify(detail.additionalEventData.SecretId);
    expect(secrets).toMatch(/DatabaseInstanceSecretAttachment/);
    expect(secrets).toMatch(/DatabaseAppSecretAttachment/);
    expect(failed?.Targets).toEqual([expect.objectContaining({ Arn: toTopic })]);
    // The origin reads its password when it connects: a rotation needs no redeploy, so nothing listens for one.
    expect(rules(synth).filter((rule) => JSON.stringify(rule.EventPattern ?? {}).includes("RotationSucceeded"))).toEqual([]);
    expect(JSON.stringify(synth.serviceTemplate.toJSON())).not.toMatch(/RedeployAfterRotation|ecs:UpdateService/);
  });

  it("alarms when the database runs short of memory, relative to its instance class", () => {
    const memory = alarm(synth, "DatabaseMemory");
    expect(memory).toMatchObject({ Namespace: "AWS/RDS", MetricName: "FreeableMemory", Statistic: "Minimum" });
    expect(memory.ComparisonOperator).toBe("LessThanThreshold");
    expect(memory.EvaluationPeriods * (memory.Period ?? 0)).toBe(15 * 60);
    expect(memory.AlarmActions).toEqual([toTopic]);
    // The example's t4g.small has 2 GiB: a tenth of it.
    expect(synth.config.database.instanceType).toBe("t4g.small");
    expect(memory.Threshold).toBe(Math.round(0.2 * GiB));
    const larger = synthesizeExample((config) => {
      config.database.instanceType = "r6g.xlarge";
    });
    expect(alarm(larger, "DatabaseMemory").Threshold).toBe(Math.round(3.2 * GiB));
    const unknown = synthesizeExample((config) => {
      config.database.instanceType = "x2g.large";
    });
    expect(alarm(unknown, "DatabaseMemory").Threshold).toBe(256 * 1024 ** 2);
    expect(
      ["t3.micro", "t4g.2xlarge", "m5.large", "m7g.4xlarge", "r6g.large", "r7g.16xlarge", "m4.large", "r6g.metal"].map(
        instanceClassMemoryGiB,
      ),
    ).toEqual([1, 32, 8, 64, 16, 512, undefined, undefined]);
  });

  it("alarms when the database holds more connections than the origin's pools can open, even mid-deploy", () => {
    const connections = alarm(synth, "DatabaseConnections");
    expect(connections).toMatchObject({ Namespace: "AWS/RDS", MetricName: "DatabaseConnections", Statistic: "Average" });
    expect(connections.ComparisonOperator).toBe("GreaterThanThreshold");
    expect(connections.EvaluationPeriods * (connections.Period ?? 0)).toBe(15 * 60);
    expect(connections.AlarmActions).toEqual([toTopic]);
    // The example: maxTasks 6, the origin's default pool of 10, twice the tasks during a rolling deploy.
    expect(connections.Threshold).toBe(2 * 6 * 10);
    const tuned = synthesizeExample((config) => {
      config.origin.maxTasks = 4;
      config.origin.tuning.databasePoolMax = 20;
    });
    expect(alarm(tuned, "DatabaseConnections").Threshold).toBe(2 * 4 * 20);
  });

  it("says in both runbooks that a rotation needs no redeploy, and what a refused password looks like", () => {
    const operations = doc("operations.md");
    const row = operations.split("\n").find((line) => line.startsWith("| database passwords |")) ?? "";
    const noticed = row.split(" | ").at(-1) ?? "";
    expect(noticed).toMatch(/^nobody/);
    expect(noticed).toMatch(/ServerErrorRate/);
    const deploy = doc("deploy.md");
    expect(deploy).toMatch(/Neither\s+rotation needs a redeploy/);
    expect(deploy).toMatch(/`AWSCURRENT`, then\s+`AWSPENDING`, then\s+`AWSPREVIOUS`/);
    for (const [name, text] of [
      ["deploy.md", deploy],
      ["operations.md", operations],
    ]) {
      expect(text, name).not.toMatch(/RedeployAfterRotation|fail with the old password/);
      expect(text, name).toMatch(/password authentication failed/);
    }
  });

  it("keeps both database secrets when the data stack goes, as it keeps the database's snapshot", () => {
    const secrets = Object.entries(resources(synth.dataTemplate)).filter(
      ([, resource]) => resource.Type === "AWS::SecretsManager::Secret",
    );
    const database = secrets.filter(([id]) => /^Database/.test(id) || /Database(Instance|App)Secret/.test(id));
    expect(database.map(([id]) => id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/DatabaseInstanceSecret/), expect.stringMatching(/DatabaseAppSecret/)]),
    );
    for (const [id, secret] of secrets) {
      expect(secret.DeletionPolicy, id).toBe("Retain");
      expect(secret.UpdateReplacePolicy, id).toBe("Retain");
    }
  });

  it("says how to deploy the data stack again after deleting it, naming every secret it keeps by name", () => {
    const shared = synthesizeExample((config) => {
      config.origin.edgeKey = "shared";
    });
    const { name, origin } = shared.config;
    const retainedNames = Object.values(resources(shared.dataTemplate))
      .filter((resource) => resource.Type === "AWS::SecretsManager::Secret" && resource.DeletionPolicy === "Retain")
      .map((resource) => String(resource.Properties?.Name))
      .map((secret) => origin.upstreamSecrets.reduce((named, upstream) => named.replace(`/${upstream}`, "/<secret>"), secret))
      .map((secret) => secret.replace(`${name}/`, "<name>/"));
    expect(retainedNames.length).toBeGreaterThanOrEqual(6);
    const text = doc("deploy.md");
    const heading = "### Deploying again after deleting the data stack";
    expect(text).toContain(heading);
    const section = text.slice(text.indexOf(heading), text.indexOf("\n## ", text.indexOf(heading)));
    for (const secret of retainedNames) expect(section, secret).toContain(`\`${secret}\``);
    expect(section).toContain("already exists");
    expect(section).toMatch(/aws secretsmanager delete-secret --secret-id \S+ --force-delete-without-recovery/);
    expect(section).toContain("restore-secret");
    // The paragraph on deleting the stack points there.
    expect(text).toContain("(#deploying-again-after-deleting-the-data-stack)");
  });

  it("expires the database's exported PostgreSQL log and its rotation functions' logs after three months", () => {
    synth.dataTemplate.hasResourceProperties("AWS::RDS::DBInstance", { EnableCloudwatchLogsExports: ["postgresql"] });
    const [instance] = resourcesOf(synth.dataTemplate, "AWS::RDS::DBInstance").map(([id]) => id);
    // Their names as the rotation applications give them to Lambda, which creates each group at the function's first run.
    const rotationGroups = resourcesOf(synth.dataTemplate, "AWS::Serverless::Application").map(
      ([, application]) => `/aws/lambda/${(application.Parameters as { functionName: string }).functionName}`,
    );
    expect(rotationGroups).toHaveLength(2);
    const exported = { "Fn::Join": ["", ["/aws/rds/instance/", { Ref: instance }, "/postgresql"]] };
    const retention = resourcesOf(synth.dataTemplate, "Custom::LogRetention").map(([, properties]) => properties);
    expect(retention.map((properties) => properties.LogGroupName)).toEqual(expect.arrayContaining([exported, ...rotationGroups]));
    expect(retention).toHaveLength(3);
    for (const properties of retention) expect(properties.RetentionInDays).toBe(90);
  });

  it("lets the log retention function change those log groups alone, never every one in the account", () => {
    // CDK grants logs:PutRetentionPolicy and DeleteRetentionPolicy on "*" to it, and it takes the group's name from its
    // event: whoever may invoke it could shorten CloudTrail's history. No logs action of the data stack on a wildcard.
    const statements = resourcesOf(synth.dataTemplate, "AWS::IAM::Policy")
      .concat(resourcesOf(synth.dataTemplate, "AWS::IAM::Role"))
      .flatMap(([id, properties]) =>
        [
          properties.PolicyDocument,
          ...((properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map((policy) => policy.PolicyDocument),
        ]
          .filter(Boolean)
          .flatMap((document) => (document as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement)
          .map((statement) => ({ id, actions: [statement.Action].flat(), resource: JSON.stringify(statement.Resource) })),
      );
    const retentionGrants = statements.filter(({ actions }) => actions.some((action) => /RetentionPolicy/.test(action)));
    expect(retentionGrants.length).toBeGreaterThan(0);
    expect(new Set(retentionGrants.flatMap(({ actions }) => actions))).toEqual(
      new Set(["logs:CreateLogGroup", "logs:PutRetentionPolicy"]),
    );
    const onWildcard = statements.filter(
      ({ id, actions, resource }) =>
        id.startsWith("DatabaseLogRetention") && actions.some((action) => action.startsWith("logs:")) && resource.includes("*"),
    );
    expect(onWildcard).toEqual([]);
    // Each group the function is given, and its own (where the handler sets one day when it first runs), by its name.
    const granted = retentionGrants.map(({ resource }) => resource).join("\n");
    expect(granted).toContain('"/postgresql"');
    expect(granted).toContain(":log-group:/aws/lambda/mcpedgeproxydataDatabaseAppRotation");
    expect(granted).toContain(":log-group:/aws/lambda/mcpedgeproxydataDatabaseInstanceRotationSingleUser");
    expect(granted).toMatch(/:log-group:\/aws\/lambda\/",\{"Ref":"LogRetention\w+"\}/);
    // The function never runs before its grants exist.
    for (const [id] of resourcesOf(synth.dataTemplate, "Custom::LogRetention"))
      expect(resources(synth.dataTemplate)[id], id).toMatchObject({
        DependsOn: [expect.stringMatching(/^DatabaseLogRetentionPolicy/)],
      });
  });

  it("drops every capability of Fargate's default set but the ones a child's user needs", () => {
    // Docker's default set, which Fargate grants.
    const fargateDefault = [
      "AUDIT_WRITE",
      "CHOWN",
      "DAC_OVERRIDE",
      "FOWNER",
      "FSETID",
      "KILL",
      "MKNOD",
      "NET_BIND_SERVICE",
      "NET_RAW",
      "SETFCAP",
      "SETGID",
      "SETPCAP",
      "SETUID",
      "SYS_CHROOT",
    ];
    const dropped = originContainer(synth).LinuxParameters?.Capabilities?.Drop ?? [];
    expect(fargateDefault.filter((capability) => !dropped.includes(capability))).toEqual([
      "CHOWN",
      "DAC_OVERRIDE",
      "FOWNER",
      "KILL",
      "SETGID",
      "SETPCAP",
      "SETUID",
    ]);
  });

  it("alarms when fewer targets than origin.minTasks are healthy, and when none report at all", () => {
    const healthy = alarm(synth, "HealthyTargets");
    expect(healthy).toMatchObject({
      Namespace: "AWS/ApplicationELB",
      MetricName: "HealthyHostCount",
      Statistic: "Minimum",
      Threshold: synth.config.origin.minTasks,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
    });
    expect(healthy.Dimensions?.map((dimension) => dimension.Name).sort()).toEqual(["LoadBalancer", "TargetGroup"]);
    expect(healthy.AlarmActions).toEqual([toTopic]);
    const three = synthesizeExample((config) => {
      config.origin.minTasks = 3;
    });
    expect(alarm(three, "HealthyTargets").Threshold).toBe(3);
  });

  it("describes a rolling deploy as ECS runs it: a full set of new tasks beside the old ones, not one by one", () => {
    synth.serviceTemplate.hasResourceProperties("AWS::ECS::Service", {
      DeploymentConfiguration: { MinimumHealthyPercent: 100, MaximumPercent: 200 },
    });
    for (const name of ["deploy.md", "operations.md"]) expect(doc(name), name).not.toMatch(/one by one/i);
  });

  it("restricts the new VPC's default security group, its function holding no AWS-managed policy", () => {
    const [vpc] = resourcesOf(synth.dataTemplate, "AWS::EC2::VPC").map(([id]) => id);
    const [[, restrict] = []] = resourcesOf(synth.dataTemplate, "Custom::VpcRestrictDefaultSG");
    expect(restrict?.DefaultSecurityGroupId).toEqual({ "Fn::GetAtt": [vpc, "DefaultSecurityGroup"] });
    const all = resources(synth.dataTemplate);
    const target = (reference: unknown) => all[String((reference as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0])];
    const handler = target(restrict?.ServiceToken);
    const role = target(handler?.Properties?.Role);
    expect(role?.Properties?.ManagedPolicyArns).toBeUndefined();
    // Its log group is its own, and its role may write there alone.
    const logGroup = String((handler?.Properties?.LoggingConfig as { LogGroup?: { Ref: string } } | undefined)?.LogGroup?.Ref);
    expect(all[logGroup]?.Type).toBe("AWS::Logs::LogGroup");
    expect(JSON.stringify(role?.Properties?.Policies)).toContain(`{"Fn::GetAtt":["${logGroup}","Arn"]}`);
    // An existing VPC is someone else's: left alone.
    const existing = synthesizeExample((config) => {
      config.network.existingVpcId = "vpc-0123456789abcdef0";
    });
    existing.dataTemplate.resourceCountIs("Custom::VpcRestrictDefaultSG", 0);
  });

  it("protects the ALB, whose DNS name the edge's CNAME names, from deletion, and says how to delete it", () => {
    synth.serviceTemplate.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
      LoadBalancerAttributes: Match.arrayWith([{ Key: "deletion_protection.enabled", Value: "true" }]),
    });
    expect(doc("deploy.md")).toContain(
      "aws elbv2 modify-load-balancer-attributes --load-balancer-arn <arn> --attributes Key=deletion_protection.enabled,Value=false",
    );
  });

  it("waits after SIGTERM as long as Fargate allows, well beyond what the origin's own steps take", () => {
    const stopTimeout = originContainer(synth).StopTimeout ?? 0;
    expect(stopTimeout).toBe(120);
    // Requests in flight, a child's stop (2 s for stdin, 2 s after SIGTERM), the origin events' flush; then KMS and the pool.
    const known = (ORIGIN_SHUTDOWN_GRACE_MS + 4_000 + ORIGIN_EVENTS_FLUSH_MS) / 1000;
    expect(stopTimeout).toBeGreaterThanOrEqual(2 * known);
    expect(doc("deploy.md")).toContain(`ECS's ${stopTimeout} s \`stopTimeout\``);
    // The comments that budget shutdown against it say the same number.
    for (const file of ["aws/origin/audit/origin-events.ts", "aws/origin/start-origin.ts"]) {
      const source = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
      expect(source, file).toMatch(new RegExp(`stopTimeout \\(${stopTimeout} s`));
    }
  });
});

describe("docs/operations.md's alarm table", () => {
  it("names exactly the alarms of the service stack", () => {
    const synth = synthesizeExample();
    const alarms = resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Alarm").map(([id]) =>
      id.replace(/^Monitoring/, "").replace(/[0-9A-F]{8}$/, ""),
    );
    const text = doc("operations.md");
    const table = text.slice(text.indexOf("## Alarms"), text.indexOf("## Rotating secrets"));
    const rows = [...table.matchAll(/^\| `(\w+)` \|/gm)].map(([, name]) => name);
    expect(rows.sort()).toEqual(alarms.sort());
  });

  it("is where every alarm and event that names a document sends the reader", () => {
    // The runbook is operations.md, which has a row for each alarm; deploy.md only lists them.
    const synth = synthesizeExample();
    const texts: [string, string][] = [
      ...resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Alarm").map(([id, alarm]) => [id, alarm.AlarmDescription]),
      ...resourcesOf(synth.serviceTemplate, "AWS::Events::Rule").map(([id, rule]) => [id, rule.Targets]),
    ].map(([id, text]) => [String(id), JSON.stringify(text)]);
    const naming = texts.filter(([, text]) => text.includes("docs/"));
    expect(naming.map(([id]) => id)).toEqual(expect.arrayContaining([expect.stringMatching(/^MonitoringAuditDeadLetters/)]));
    for (const [id, text] of naming)
      expect(
        [...text.matchAll(/docs\/[\w.-]+/g)].map(([name]) => name),
        id,
      ).toEqual(["docs/operations.md"]);
  });
});
