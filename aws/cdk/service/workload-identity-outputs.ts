import { CfnOutput, Fn, Stack } from "aws-cdk-lib";
import type * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";

/**
 * The AWS side of Workload Identity Federation for Google: Google's workload identity pool trusts the origin's
 * task role (an AWS provider in the pool, limited by an attribute condition to this role's sessions). These outputs
 * are the values the Google side needs; docs/google-workspace.md has the gcloud commands they go into.
 */
export class WorkloadIdentityOutputs extends Construct {
  constructor(scope: Construct, id: string, props: { taskRole: iam.IRole }) {
    super(scope, id);
    const stack = Stack.of(this);
    // What Google's default AWS attribute mapping yields as attribute.aws_role for this role's sessions. The partition
    // is the stack's (aws-us-gov, aws-cn, …): a session's ARN in another partition would match nothing Google sees.
    const assumedRole = Fn.join("", [
      "arn:",
      stack.partition,
      ":sts::",
      stack.account,
      ":assumed-role/",
      props.taskRole.roleName,
    ]);
    this.output("GoogleWifAwsAccountId", {
      value: stack.account,
      description: "Google WIF: --account-id of the AWS provider in the workload identity pool",
    });
    this.output("GoogleWifAwsRoleArn", {
      value: props.taskRole.roleArn,
      description: "Google WIF: the IAM role the origin runs as (the identity Google trusts)",
    });
    this.output("GoogleWifAttributeCondition", {
      value: Fn.join("", ["attribute.aws_role == '", assumedRole, "'"]),
      description: "Google WIF: --attribute-condition of the AWS provider, so that only the origin's role is accepted",
    });
    this.output("GoogleWifPrincipalSetSuffix", {
      value: Fn.join("", ["attribute.aws_role/", assumedRole]),
      description:
        "Google WIF: append to principalSet://iam.googleapis.com/projects/<PROJECT_NUMBER>/locations/global/workloadIdentityPools/<POOL_ID>/ for roles/iam.workloadIdentityUser on the service account",
    });
  }

  /**
   * An output whose key is `id` itself: inside this construct CDK would name it `WorkloadIdentity<id><hash>`, a key
   * the docs cannot name and that changes with the construct's path; operators copy these keys from the docs.
   */
  private output(id: string, props: { value: string; description: string }): void {
    new CfnOutput(this, id, props).overrideLogicalId(id);
  }
}
