import { Match } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { rotationSchedule } from "../../aws/cdk/data/database.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

describe("AWS tier operations: scaling, rotation, observability, Workload Identity outputs", () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample();
  });

  it("runs at least two tasks and scales on CPU and on requests per task", () => {
    const { origin } = synth.config;
    // No DesiredCount: CloudFormation would send it with every update of the service (each release), setting a service
    // autoscaling had grown back to minTasks. Without it an update keeps the running count, and a new service's one
    // task is raised to MinCapacity when the scalable target, which names the service (so comes after it), registers.
    synth.serviceTemplate.hasResourceProperties("AWS::ECS::Service", {
      DesiredCount: Match.absent(),
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
    });
    const services = resourcesOf(synth.serviceTemplate, "AWS::ECS::Service").map(([id]) => id);
    expect(services).toHaveLength(1);
    synth.serviceTemplate.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", {
      MinCapacity: origin.minTasks,
      MaxCapacity: origin.maxTasks,
      ScalableDimension: "ecs:service:DesiredCount",
      ResourceId: { "Fn::Join": ["", Match.arrayWith([{ "Fn::GetAtt": [services[0], "Name"] }])] },
    });
    expect(origin.minTasks).toBeGreaterThanOrEqual(2);
    const metrics = resourcesOf(synth.serviceTemplate, "AWS::ApplicationAutoScaling::ScalingPolicy").map(
      ([, policy]) =>
        (policy.TargetTrackingScalingPolicyConfiguration as { PredefinedMetricSpecification: { PredefinedMetricType: string } })
          .PredefinedMetricSpecification.PredefinedMetricType,
    );
    expect(metrics.sort()).toEqual(["ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"]);
  });

  it("rotates both database passwords in a chosen two-hour window, not at an hour Secrets Manager picks", () => {
    // The origin no longer notices a rotation; a task starting during one may (its migrate container): at a chosen hour.
    const schedules = resourcesOf(synth.dataTemplate, "AWS::SecretsManager::RotationSchedule");
    expect(schedules.map(([id]) => id.replace(/[0-9A-F]{8}$/, "")).sort()).toEqual([
      "DatabaseAppSecretAttachmentRotationSchedule",
      "DatabaseInstanceSecretAttachmentRotationSchedule",
    ]);
    for (const [id, schedule] of schedules)
      expect(schedule.RotationRules, id).toEqual({ ScheduleExpression: "cron(0 4 ? * SUN#1 *)", Duration: "2h" });
    // Unset, the same window; an interval in days when that is what the configuration asks for (its window opens at 00:00).
    const database = { ...synth.config.database, credentialRotationSchedule: undefined };
    expect(rotationSchedule(database)).toBe("cron(0 4 ? * SUN#1 *)");
    expect(rotationSchedule({ ...database, credentialRotationDays: 7 })).toBe("rate(7 days)");
  });

  it("keeps the origin's logs for the configured time", () => {
    synth.serviceTemplate.hasResource("AWS::Logs::LogGroup", {
      Properties: { RetentionInDays: synth.config.origin.logRetentionDays },
      DeletionPolicy: "Retain",
    });
  });

  it("has the dashboard and every alarm, each notifying the SNS topic", () => {
    const [[, dashboard]] = resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Dashboard") as [
      [string, { DashboardBody: unknown }],
    ];
    const body = JSON.stringify(dashboard.DashboardBody);
    for (const metric of [
      "RequestCount",
      "HTTPCode_Target_4XX_Count",
      "HTTPCode_Target_5XX_Count",
      "TargetResponseTime",
      "p50",
      "p95",
      "CPUUtilization",
      "MemoryUtilization",
      "DatabaseConnections",
      "AuditQueueBacklog",
    ]) {
      expect(body, metric).toContain(metric);
    }
    const alarms = resourcesOf(synth.serviceTemplate, "AWS::CloudWatch::Alarm");
    const names = alarms.map(([id]) => id.replace(/^Monitoring/, "").replace(/[0-9A-F]{8}$/, ""));
    expect(names.sort()).toEqual(
      [
        "AuditDeadLetters",
        "AuditQueueMetricsFailing",
        "DatabaseConnections",
        "DatabaseCpu",
        "DatabaseMemory",
        "DatabaseStorage",
        "HealthyTargets",
        "OriginAuditEventsLost",
        "ServerErrorRate",
        "UnhealthyTargets",
      ].sort(),
    );
    for (const [id, alarm] of alarms) {
      expect(JSON.stringify(alarm.AlarmActions), id).toMatch(/MonitoringAlarms/);
    }
    // The origin's lost-event line is what the OriginAuditEventsLost alarm counts (origin-events.ts writes it).
    synth.serviceTemplate.hasResourceProperties("AWS::Logs::MetricFilter", {
      FilterPattern: '"is lost, never stored"',
      MetricTransformations: [
        { MetricName: "OriginAuditEventsLost", MetricNamespace: "McpEdgeProxy/Audit", MetricValue: "1", DefaultValue: 0 },
      ],
    });
    synth.serviceTemplate.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: synth.config.alarms.email,
    });
  });

  it("outputs the origin's cluster and service by name, for update-service as for describe-services", () => {
    const outputs = synth.serviceTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    const [cluster] = resourcesOf(synth.serviceTemplate, "AWS::ECS::Cluster").map(([id]) => id);
    const [service] = resourcesOf(synth.serviceTemplate, "AWS::ECS::Service").map(([id]) => id);
    expect(outputs.OriginClusterName?.Value).toEqual({ Ref: cluster });
    expect(outputs.OriginServiceName?.Value).toEqual({ "Fn::GetAtt": [service, "Name"] });
    expect(JSON.stringify(outputs.OriginService?.Value)).toMatch(/"--cluster",.*"--services"/);
  });

  it("keeps a week of the database's Performance Insights, which costs nothing", () => {
    synth.dataTemplate.hasResourceProperties("AWS::RDS::DBInstance", {
      EnablePerformanceInsights: true,
      PerformanceInsightsRetentionPeriod: 7,
    });
  });

  it("outputs what Google's workload identity pool needs", () => {
    const outputs = synth.serviceTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    // Under the keys docs/google-workspace.md names, exactly (no construct path, no hash).
    const named = (key: string) => outputs[key]?.Value;
    expect(named("GoogleWifAwsAccountId")).toBe(synth.config.account);
    expect(JSON.stringify(named("GoogleWifAwsRoleArn"))).toMatch(/"Fn::GetAtt":\["OriginTaskRole\w+","Arn"\]/);
    // The session's ARN in the stack's own partition (AWS::Partition), not `arn:aws:`: GovCloud and China have others.
    const session = [
      { Ref: "AWS::Partition" },
      `:sts::${synth.config.account}:assumed-role/`,
      { Ref: expect.stringMatching(/^OriginTaskRole/) },
    ];
    expect(named("GoogleWifAttributeCondition")).toEqual({ "Fn::Join": ["", ["attribute.aws_role == 'arn:", ...session, "'"]] });
    expect(named("GoogleWifPrincipalSetSuffix")).toEqual({ "Fn::Join": ["", ["attribute.aws_role/arn:", ...session]] });
    expect(named("OriginUrl")).toBe(`https://${synth.config.origin.hostname}`);
  });
});
