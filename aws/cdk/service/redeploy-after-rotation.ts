import { Duration, RemovalPolicy } from "aws-cdk-lib";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import * as events from "aws-cdk-lib/aws-events";
import * as eventTargets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
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
 * rotation cannot leave the database with the old one.
 */
export class RedeployAfterRotation extends Construct {
  readonly function: lambda.Function;

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
    new events.Rule(this, "OnRotation", {
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
      targets: [new eventTargets.LambdaFunction(this.function, { retryAttempts: 4 })],
    });
  }
}
