import { ArnFormat, type CfnResource, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/** CDK's LogRetention function, one per stack (aws-cdk-lib/aws-logs/lib/log-retention.js names it so). */
const RETENTION_FUNCTION_ID = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a";

/**
 * Retention for log groups another service creates (RDS its exported log, Lambda a function's group at its first run),
 * set by CDK's LogRetention function, which creates a group if need be and keeps one that exists: a CloudFormation
 * LogGroup of the same name would fail the update of every deployment that already has it.
 *
 * CDK grants that function logs:PutRetentionPolicy and logs:DeleteRetentionPolicy on every log group in the account,
 * and the function takes the group's name from its event: whoever may invoke it could shorten the history of any log
 * (CloudTrail's, the flow logs'). Here its role never gets CDK's grants (withoutPolicyUpdates), only a policy naming
 * exactly the groups given to `allow`, and the function's own (the handler sets one day on it when it first runs).
 * The function has no right to write logs: a failure shows in the stack's events, where CloudFormation reports it.
 */
export class LogRetentionGrants {
  /** The role to hand to LogRetention (and to RDS's cloudwatchLogsRetentionRole): what CDK adds to it goes nowhere. */
  readonly role: iam.IRole;
  private readonly scope: Construct;
  private readonly policy: iam.Policy;
  private ownGroupAllowed = false;

  /** The role's and policy's ids are the scope's `LogRetentionRole` and `LogRetentionPolicy`. */
  constructor(scope: Construct) {
    this.scope = scope;
    const role = new iam.Role(scope, "LogRetentionRole", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: "Sets the retention of the audit database's exported PostgreSQL log and of its rotation functions' logs",
    });
    this.policy = new iam.Policy(scope, "LogRetentionPolicy", { roles: [role] });
    this.role = role.withoutPolicyUpdates();
  }

  /** Keeps `logGroupName`, which another service creates, for `retention`. */
  retain(id: string, logGroupName: string, retention: logs.RetentionDays): void {
    const setter = new logs.LogRetention(this.scope, id, { logGroupName, retention, role: this.role });
    this.allow(logGroupName, setter);
  }

  /** Lets the function create `logGroupName` and set its retention; `setter` is the LogRetention that does it. */
  allow(logGroupName: string, setter: Construct): void {
    this.policy.addStatements(this.statement(logGroupName));
    if (!this.ownGroupAllowed) {
      const stack = Stack.of(this.scope);
      const handler = stack.node.tryFindChild(RETENTION_FUNCTION_ID)?.node.defaultChild as CfnResource | undefined;
      if (!handler) throw new Error("CDK's LogRetention function changed: see log-retention-grants.ts");
      this.policy.addStatements(this.statement(`/aws/lambda/${handler.ref}`));
      this.ownGroupAllowed = true;
    }
    // Not before the policy: the function would be refused, and the deploy fail.
    setter.node.addDependency(this.policy);
  }

  /** The two calls the function makes on a group, on that group alone. */
  private statement(logGroupName: string): iam.PolicyStatement {
    const arn = Stack.of(this.scope).formatArn({
      service: "logs",
      resource: "log-group",
      resourceName: logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    return new iam.PolicyStatement({ actions: ["logs:CreateLogGroup", "logs:PutRetentionPolicy"], resources: [arn] });
  }
}
