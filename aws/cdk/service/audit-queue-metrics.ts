import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as events from "aws-cdk-lib/aws-events";
import * as eventTargets from "aws-cdk-lib/aws-events-targets";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { functionRole } from "./function-role.ts";

/** Matches METRICS_NAMESPACE in audit-queue-metrics/index.mjs. */
export const AUDIT_METRICS_NAMESPACE = "McpEdgeProxy/Audit";

export interface AuditQueueMetricsProps {
  name: string;
  accountId: string;
  auditQueueId: string;
  deadLetterQueueId: string;
}

/**
 * The audit queues live at Cloudflare, so their depth is read from Cloudflare's GraphQL Analytics API every five
 * minutes and published as CloudWatch metrics: events waiting to be ingested, and events given up on (dead letters).
 */
export class AuditQueueMetrics extends Construct {
  readonly backlog: cloudwatch.Metric;
  readonly deadLetters: cloudwatch.Metric;
  readonly function: lambda.Function;
  readonly tokenSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: AuditQueueMetricsProps) {
    super(scope, id);
    this.tokenSecret = new secretsmanager.Secret(this, "CloudflareToken", {
      secretName: `${props.name}/cloudflare-analytics-token`,
      description: "A Cloudflare API token with Account Analytics: Read, for the audit queue metrics. Replace the placeholder.",
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.tokenSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "A Cloudflare API token is minted in Cloudflare's dashboard, which Secrets Manager cannot do; rotate it with put-secret-value.",
    });
    const logGroup = new logs.LogGroup(this, "Logs", {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = functionRole(this, "Role", logGroup, "Reads the audit queue metrics from Cloudflare");
    this.tokenSecret.grantRead(role);
    this.function = new lambda.Function(this, "Function", {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: "index.handler",
      code: lambda.Code.fromAsset(new URL("./audit-queue-metrics", import.meta.url).pathname),
      role,
      logGroup,
      timeout: Duration.seconds(30),
      environment: {
        TOKEN_SECRET_ARN: this.tokenSecret.secretArn,
        CLOUDFLARE_ACCOUNT_ID: props.accountId,
        AUDIT_QUEUE_ID: props.auditQueueId,
        DEAD_LETTER_QUEUE_ID: props.deadLetterQueueId,
      },
    });
    new events.Rule(this, "Schedule", {
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new eventTargets.LambdaFunction(this.function)],
    });
    const metric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: AUDIT_METRICS_NAMESPACE,
        metricName,
        statistic: "Maximum",
        period: Duration.minutes(5),
      });
    this.backlog = metric("AuditQueueBacklog");
    this.deadLetters = metric("AuditDeadLetterBacklog");
  }
}
