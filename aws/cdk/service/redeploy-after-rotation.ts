import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as events from "aws-cdk-lib/aws-events";
import * as eventTargets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { functionRole } from "./function-role.ts";

// ECS resolves `secrets` when a task starts, so running tasks keep the password they started with. Their open
// connections stay valid after a rotation, but new ones would fail: a rolling redeploy hands every task the new one.
const HANDLER = `const { ECSClient, UpdateServiceCommand } = require("@aws-sdk/client-ecs");
exports.handler = async () => {
  await new ECSClient({}).send(new UpdateServiceCommand({ cluster: process.env.CLUSTER_ARN, service: process.env.SERVICE_NAME, forceNewDeployment: true }));
  console.log("database credentials rotated: rolling redeploy of " + process.env.SERVICE_NAME + " started");
};`;

/**
 * After Secrets Manager rotates the origin role's database password, a rolling redeploy of the origin (no downtime):
 * each new task's migrate container sets the role's password from the secret again, so a task started during the
 * rotation cannot leave the database with the old one. An event EventBridge could not hand to the function lands in
 * a dead-letter queue, which monitoring.ts alarms on with the rule's failed invocations.
 */
export class RedeployAfterRotation extends Construct {
  readonly function: lambda.Function;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: { secret: secretsmanager.ISecret; service: ecs.FargateService }) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, "Logs", {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = functionRole(this, "Role", logGroup, "Redeploys the MCP origin after a database credential rotation");
    role.addToPolicy(new iam.PolicyStatement({ actions: ["ecs:UpdateService"], resources: [props.service.serviceArn] }));
    this.function = new lambda.Function(this, "Function", {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: "index.handler",
      code: lambda.Code.fromInline(HANDLER),
      role,
      logGroup,
      timeout: Duration.seconds(30),
      environment: { CLUSTER_ARN: props.service.cluster.clusterArn, SERVICE_NAME: props.service.serviceName },
    });
    this.deadLetterQueue = this.undeliveredEvents();
    this.rule = new events.Rule(this, "OnRotation", {
      description: "The origin's database secret was rotated",
      eventPattern: {
        source: ["aws.secretsmanager"],
        detailType: ["AWS Service Event via CloudTrail"],
        detail: {
          eventSource: ["secretsmanager.amazonaws.com"],
          eventName: ["RotationSucceeded"],
          additionalEventData: { SecretId: [props.secret.secretArn] },
        },
      },
      targets: [
        new eventTargets.LambdaFunction(this.function, {
          retryAttempts: 4,
          // Until the redeploy runs, the tasks' new connections fail: past half an hour, an alarm and a redeploy by
          // hand serve better than EventBridge's default of retrying for a day.
          maxEventAge: Duration.minutes(30),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }

  /**
   * SQS-managed encryption: EventBridge cannot write to a queue under the AWS-managed aws/sqs key, and a key of our
   * own would need a key policy for it. Fourteen days, SQS's longest, keep a lost event for whoever investigates.
   */
  private undeliveredEvents(): sqs.Queue {
    const queue = new sqs.Queue(this, "DeadLetters", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(queue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself a dead-letter queue: of the EventBridge rule that starts the redeploy after a rotation.",
    });
    return queue;
  }
}
