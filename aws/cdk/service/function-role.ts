import * as iam from "aws-cdk-lib/aws-iam";
import type * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/**
 * A role for one of the stack's small functions that may write to its own log group and nothing else yet,
 * instead of the AWS-managed basic execution role (which allows writing to every log group in the account).
 */
export function functionRole(scope: Construct, id: string, logGroup: logs.ILogGroup, description: string): iam.Role {
  const role = new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"), description });
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      // A log group's ARN attribute ends in ":*", which covers its streams.
      resources: [logGroup.logGroupArn],
    }),
  );
  return role;
}
