import { Duration, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as events from "aws-cdk-lib/aws-events";
import * as eventTargets from "aws-cdk-lib/aws-events-targets";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as rds from "aws-cdk-lib/aws-rds";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { OriginConfig } from "../../../contract/config/schema.ts";
import type { DeployConfig } from "../config/deploy-config.ts";
import type { AuditQueueMetrics } from "./audit-queue-metrics.ts";

export interface MonitoringProps {
  config: DeployConfig;
  alb: elbv2.ApplicationLoadBalancer;
  targetGroup: elbv2.ApplicationTargetGroup;
  service: ecs.FargateService;
  /** The origin tasks' log group, read for the lines no metric of the origin's reaches CloudWatch with. */
  originLogs: logs.ILogGroup;
  database: rds.DatabaseInstance;
  /** Both database logins' secrets (master and origin role): a rotation of either that fails is reported. */
  databaseSecrets: secretsmanager.ISecret[];
  auditQueues?: AuditQueueMetrics;
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** Memory of the db.t* classes by size; the db.m* and db.r* classes of generation 5 on have 4 and 8 GiB per vCPU. */
const BURSTABLE_GIB: Record<string, number> = { micro: 1, small: 2, medium: 4, large: 8, xlarge: 16, "2xlarge": 32 };
const GIB_PER_VCPU: Record<string, number> = { m: 4, r: 8 };

/** The memory of an RDS instance class (`database.instanceType`, without `db.`), or undefined for a class not above. */
export function instanceClassMemoryGiB(instanceType: string): number | undefined {
  const [, family = "", generation = "", size = ""] = /^([a-z])(\d+)[a-z]*\.(\w+)$/.exec(instanceType) ?? [];
  if (family === "t") return BURSTABLE_GIB[size];
  const perVcpu = Number(generation) >= 5 ? GIB_PER_VCPU[family] : undefined;
  const xlarge = /^(\d*)xlarge$/.exec(size);
  const vcpus = size === "large" ? 2 : xlarge ? 4 * Number(xlarge[1] || 1) : undefined;
  return perVcpu && vcpus ? perVcpu * vcpus : undefined;
}

/**
 * The RDS events that say the database's storage really is running out (USER_Events.Messages in the RDS user guide),
 * rather than RDS-EVENT-0089 (free space under 10% of the allocation), which precedes every step of storage
 * autoscaling. By event id, not by an RDS event subscription's categories: 0224 and 0223 are in "failure", 0225 in
 * "notification", 0007 in "low storage" beside 0089.
 */
export const DATABASE_STORAGE_EVENTS = {
  "RDS-EVENT-0225": "the allocated storage reached 80% of the maximum storage threshold",
  "RDS-EVENT-0224": "storage autoscaling started a step that reaches or exceeds the maximum storage threshold",
  "RDS-EVENT-0223": "storage autoscaling cannot scale the storage",
  "RDS-EVENT-0007": "the allocated storage is exhausted",
} as const;

/**
 * One dashboard (requests, 4xx/5xx, latency p50/p95, ECS CPU and memory, RDS connections, audit ingest lag) and
 * the alarms that page someone (5xx rate, unhealthy or too few targets, RDS CPU, storage, memory and connections,
 * audit dead letters, the origin's own audit events lost), plus the RDS storage and Secrets Manager rotation events
 * that need someone, all sent to one SNS topic.
 */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { config, alb, targetGroup, service, database, auditQueues } = props;
    this.topic = new sns.Topic(this, "Alarms", { displayName: `${config.name} alarms`, enforceSSL: true });
    if (config.alarms.email) this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));

    const minutes = (n: number) => Duration.minutes(n);
    const requests = alb.metrics.requestCount({ period: minutes(1) });
    const target4xx = alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, { period: minutes(1) });
    const target5xx = alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: minutes(1) });
    const alb5xx = alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: minutes(1) });
    const latency = (statistic: string) => alb.metrics.targetResponseTime({ statistic, period: minutes(1) });
    const serverErrorPercent = new cloudwatch.MathExpression({
      label: "5xx (% of requests)",
      expression: "100 * (FILL(t5, 0) + FILL(e5, 0)) / IF(req > 0, req, 1)",
      usingMetrics: {
        t5: target5xx.with({ period: minutes(5) }),
        e5: alb5xx.with({ period: minutes(5) }),
        req: requests.with({ period: minutes(5) }),
      },
      period: minutes(5),
    });

    this.alarm("ServerErrorRate", serverErrorPercent, {
      threshold: config.alarms.serverErrorPercent,
      evaluationPeriods: 1,
      description: `More than ${config.alarms.serverErrorPercent}% of requests to the origin answered 5xx over 5 minutes`,
    });
    this.alarm("UnhealthyTargets", targetGroup.metrics.unhealthyHostCount({ statistic: "Maximum", period: minutes(1) }), {
      threshold: 0,
      evaluationPeriods: 3,
      description: "An origin task has not answered its /healthz check for 3 minutes (the process is stuck or out of memory)",
    });
    // UnHealthyHostCount is 0 when no target is registered at all (every task crash-looping, migrate failing, the
    // image not pulled): too few healthy ones is what that looks like, and no data at all is as bad.
    this.alarm("HealthyTargets", targetGroup.metrics.healthyHostCount({ statistic: "Minimum", period: minutes(1) }), {
      threshold: config.origin.minTasks,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      description: `Fewer than origin.minTasks (${config.origin.minTasks}) origin tasks have answered their /healthz check for 3 minutes (tasks failing to start, or none registered)`,
    });
    this.alarm("DatabaseCpu", database.metricCPUUtilization({ period: minutes(5) }), {
      threshold: 80,
      evaluationPeriods: 3,
      description: "The audit database has used over 80% CPU for 15 minutes: consider a larger instance class",
    });
    // FreeStorageSpace is measured against the current allocation, which storage autoscaling grows by at least 10 GiB
    // once free space is at or below 10% of it: a threshold tied to maxAllocatedStorageGiB fires during every normal
    // growth step. Half of what autoscaling leaves at the smallest allocation, for 30 minutes, means it has not grown
    // the volume (at its ceiling, in its cooldown of at least six hours, or failing); the ceiling itself comes
    // earlier, as the RDS events below.
    const storageFloorGiB = config.database.allocatedStorageGiB * 0.05;
    this.alarm("DatabaseStorage", database.metricFreeStorageSpace({ statistic: "Minimum", period: minutes(5) }), {
      threshold: storageFloorGiB * GiB,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 6,
      description: `The audit database has had less than ${storageFloorGiB} GiB free for 30 minutes: storage autoscaling has not grown it (at database.maxAllocatedStorageGiB, in its cooldown, or failing). See the RDS events`,
    });
    this.databaseLoadAlarms(config, database);
    new events.Rule(this, "DatabaseStorageEvents", {
      description:
        "The audit database's storage is running out: near or at database.maxAllocatedStorageGiB, or autoscaling failing",
      eventPattern: {
        source: ["aws.rds"],
        detailType: ["RDS DB Instance Event"],
        // The instance by its ARN (the event's resources): its detail's SourceIdentifier may carry a prefix.
        resources: [database.instanceArn],
        detail: { EventID: Object.keys(DATABASE_STORAGE_EVENTS) },
      },
      targets: [
        new eventTargets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `${config.name}: the audit database's storage: ${events.EventField.fromPath("$.detail.Message")} (${events.EventField.fromPath("$.detail.EventID")}). Raise database.maxAllocatedStorageGiB, or set origin.auditRetentionDays, then deploy (docs/operations.md).`,
          ),
        }),
      ],
    });
    new events.Rule(this, "DatabaseRotationFailed", {
      description: "Secrets Manager could not rotate a database password",
      eventPattern: {
        source: ["aws.secretsmanager"],
        detailType: ["AWS Service Event via CloudTrail"],
        detail: {
          eventSource: ["secretsmanager.amazonaws.com"],
          eventName: ["RotationFailed", "RotationAbandoned"],
          additionalEventData: { SecretId: props.databaseSecrets.map((secret) => secret.secretArn) },
        },
      },
      targets: [
        new eventTargets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `${config.name}: ${events.EventField.fromPath("$.detail.eventName")} for ${events.EventField.fromPath("$.detail.additionalEventData.SecretId")}. See docs/operations.md (rotating secrets).`,
          ),
        }),
      ],
    });
    this.alarm("OriginAuditEventsLost", originAuditEventsLost(this, props.originLogs), {
      threshold: 0,
      evaluationPeriods: 1,
      description:
        "The origin gave up on audit events it records itself (mcp.approval, definition.*, mcp.upstream_left_out): they are not in the trail. See docs/operations.md, Lost audit events",
    });
    if (auditQueues) {
      this.alarm("AuditDeadLetters", auditQueues.deadLetters, {
        threshold: 0,
        evaluationPeriods: 1,
        description:
          "Audit events reached the dead-letter queue: the origin refused or missed them for days. See docs/operations.md: its AuditDeadLetters row, then Replaying the audit dead-letter queue",
      });
      this.alarm("AuditQueueMetricsFailing", auditQueues.function.metricErrors({ period: minutes(15) }), {
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        description: "The audit queue metrics could not be read from Cloudflare for 30 minutes (token or ids wrong?)",
      });
    }

    const dashboard = new cloudwatch.Dashboard(this, "Dashboard", { dashboardName: `${config.name}-${Stack.of(this).region}` });
    const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    dashboard.addWidgets(
      graph("Requests", [requests.with({ statistic: "Sum" })]),
      graph("4xx / 5xx", [target4xx, target5xx, alb5xx]),
      graph("Latency p50 / p95 (seconds)", [latency("p50"), latency("p95")]),
    );
    dashboard.addWidgets(
      graph("ECS CPU and memory (%)", [service.metricCpuUtilization(), service.metricMemoryUtilization()]),
      graph("RDS connections", [database.metricDatabaseConnections()]),
      graph(
        "Audit ingest lag (events waiting in the queue; dead letters)",
        auditQueues ? [auditQueues.backlog, auditQueues.deadLetters] : [],
        auditQueues ? {} : { title: "Audit ingest lag: set the cloudflare section of the deployment configuration" },
      ),
    );
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms: this.alarms, width: 24, height: 4 }));
  }

  /**
   * The database running short of memory or holding more connections than the origin's pools can open.
   * FreeableMemory is the instance's MemAvailable: AWS suggests keeping a quarter free over long stretches; under a
   * tenth for 15 minutes the instance is near swapping, which pages nobody for a busy but healthy cache. A class the
   * table does not know gets 256 MiB, an eighth of the default t4g.small.
   * Each task's pool holds at most databasePoolMax connections, and a rolling deploy runs up to twice maxTasks tasks:
   * more than that for 15 minutes is someone else's (sessions by hand, backends of killed tasks that PostgreSQL has
   * not yet noticed are gone), and eats into max_connections, which docs/deploy.md says to keep above that bound.
   */
  private databaseLoadAlarms(config: DeployConfig, database: rds.DatabaseInstance) {
    const memoryGiB = instanceClassMemoryGiB(config.database.instanceType);
    const memoryFloor = memoryGiB ? Math.round(memoryGiB * GiB * 0.1) : 256 * MiB;
    this.alarm("DatabaseMemory", database.metricFreeableMemory({ statistic: "Minimum", period: Duration.minutes(5) }), {
      threshold: memoryFloor,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      description: `The audit database has had less than ${Math.round(memoryFloor / MiB)} MiB of memory available for 15 minutes (${memoryGiB ? "a tenth of" : "the floor for"} db.${config.database.instanceType}): consider a larger database.instanceType`,
    });
    const poolMax = config.origin.tuning.databasePoolMax ?? OriginConfig.shape.databasePoolMax.parse(undefined);
    const originMost = 2 * config.origin.maxTasks * poolMax;
    this.alarm("DatabaseConnections", database.metricDatabaseConnections({ statistic: "Average", period: Duration.minutes(5) }), {
      threshold: originMost,
      evaluationPeriods: 3,
      description: `The audit database has held more than ${originMost} connections for 15 minutes, more than the origin's pools open even during a rolling deploy (2 x origin.maxTasks x databasePoolMax): find who holds them in pg_stat_activity`,
    });
  }

  private alarm(
    id: string,
    metric: cloudwatch.Metric | cloudwatch.MathExpression,
    props: Omit<cloudwatch.CreateAlarmOptions, "alarmDescription"> & { description: string },
  ) {
    const { description, ...options } = props;
    const alarm = metric.createAlarm(this, id, {
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...options,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}

/**
 * The origin's own audit events it gave up on (aws/origin/audit/origin-events.ts logs each as "… is lost, never
 * stored …"): its Prometheus counter is not scraped into CloudWatch, so the log line is what an alarm can count.
 */
function originAuditEventsLost(scope: Construct, logGroup: logs.ILogGroup): cloudwatch.Metric {
  const filter = new logs.MetricFilter(scope, "OriginAuditEventsLostFilter", {
    logGroup,
    filterPattern: logs.FilterPattern.literal('"is lost, never stored"'),
    metricNamespace: "McpEdgeProxy/Audit",
    metricName: "OriginAuditEventsLost",
    metricValue: "1",
    defaultValue: 0,
  });
  return filter.metric({ statistic: "Sum", period: Duration.minutes(5) });
}
