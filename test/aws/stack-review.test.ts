import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_STORAGE_EVENTS } from "../../aws/cdk/service/monitoring.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

// What a review of the synthesized stacks found: each property here was missing or wrong in the template.

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
  AlarmActions: unknown[];
};
type Rule = { EventPattern?: Record<string, unknown>; Targets: { Arn: unknown; InputTransformer?: unknown }[] };

const GiB = 1024 ** 3;
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");

const alarm = (synth: Synthesized, name: string): Alarm => {
  const found = resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Alarm").find(([id]) =>
    new RegExp(`^Monitoring${name}[0-9A-F]{8}$`).test(id),
  );
  if (!found) throw new Error(`no alarm ${name}`);
  return found[1] as unknown as Alarm;
};
const rules = (synth: Synthesized) => resourcesOf(synth.serviceTemplate, "AWS::Events::Rule").map(([, rule]) => rule as Rule);
const toTopic = { Ref: expect.stringMatching(/^MonitoringAlarms/) };

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
    const pattern = storageRule?.EventPattern as { source: string[]; detail: { EventID: string[]; SourceIdentifier: unknown[] } };
    expect(pattern.source).toEqual(["aws.rds"]);
    expect(pattern.detail.EventID.sort()).toEqual(Object.keys(DATABASE_STORAGE_EVENTS).sort());
    expect(pattern.detail.EventID).toEqual(expect.arrayContaining(["RDS-EVENT-0224", "RDS-EVENT-0225"]));
    // Not the low-storage event that precedes every autoscaling step.
    expect(pattern.detail.EventID).not.toContain("RDS-EVENT-0089");
    expect(JSON.stringify(pattern.detail.SourceIdentifier)).toMatch(/ExportsOutputRefDatabaseInstance/);
    expect(storageRule?.Targets).toEqual([expect.objectContaining({ Arn: toTopic })]);
  });

  it("alarms when the redeploy after a password rotation fails, and reports failed rotations of either password", () => {
    const failing = alarm(synth, "RedeployAfterRotationFailing");
    expect(failing).toMatchObject({ Namespace: "AWS/Lambda", MetricName: "Errors", Threshold: 1 });
    expect(failing.ComparisonOperator).toBe("GreaterThanOrEqualToThreshold");
    expect(failing.Dimensions).toEqual([
      { Name: "FunctionName", Value: { Ref: expect.stringMatching(/^RedeployAfterRotationFunction/) } },
    ]);
    expect(failing.AlarmActions).toEqual([toTopic]);

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
  });

  it("says in both runbooks that the origin's rotation gap exists and who hears of it", () => {
    const operations = doc("operations.md");
    const row = operations.split("\n").find((line) => line.startsWith("| database passwords |")) ?? "";
    const noticed = row.split(" | ").at(-1) ?? "";
    expect(noticed).not.toMatch(/^nobody/);
    expect(noticed).toMatch(/old password/);
    expect(noticed).toContain("RedeployAfterRotationFailing");
    const deploy = doc("deploy.md");
    expect(deploy).toMatch(/new ones fail with the old password/);
    expect(deploy).toContain("RedeployAfterRotationFailing");
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
});
