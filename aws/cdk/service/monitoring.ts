import { Duration, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import type * as rds from "aws-cdk-lib/aws-rds";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import type { DeployConfig } from "../config/deploy-config.ts";
import type { AuditQueueMetrics } from "./audit-queue-metrics.ts";

export interface MonitoringProps {
  config: DeployConfig;
  alb: elbv2.ApplicationLoadBalancer;
  targetGroup: elbv2.ApplicationTargetGroup;
  service: ecs.FargateService;
  database: rds.DatabaseInstance;
  auditQueues?: AuditQueueMetrics;
}

const GiB = 1024 ** 3;

/**
 * One dashboard (requests, 4xx/5xx, latency p50/p95, ECS CPU and memory, RDS connections, audit ingest lag) and
 * the alarms that page someone (5xx rate, unhealthy targets, RDS CPU and storage, audit dead letters), all sent to
 * one SNS topic.
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
    this.alarm("DatabaseCpu", database.metricCPUUtilization({ period: minutes(5) }), {
      threshold: 80,
      evaluationPeriods: 3,
      description: "The audit database has used over 80% CPU for 15 minutes: consider a larger instance class",
    });
    this.alarm("DatabaseStorage", database.metricFreeStorageSpace({ statistic: "Minimum", period: minutes(5) }), {
      threshold: Math.max(2, config.database.maxAllocatedStorageGiB * 0.1) * GiB,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      description: "The audit database is close to its storage ceiling: raise database.maxAllocatedStorageGiB",
    });
    if (auditQueues) {
      this.alarm("AuditDeadLetters", auditQueues.deadLetters, {
        threshold: 0,
        evaluationPeriods: 1,
        description: "Audit events reached the dead-letter queue: the origin refused or missed them for days. See docs/deploy.md",
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
