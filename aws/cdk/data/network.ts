import { type CfnResource, type CustomResourceProviderBase, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { DeployConfig } from "../config/deploy-config.ts";

/** Subnet group names of a new VPC: the ALB in public, the origin tasks in private, the database isolated. */
export const SUBNETS = { public: "edge-facing", origin: "origin", database: "database" } as const;

/**
 * The zones of a new VPC: named in the configuration, or the region's first ones (`<region>a`, `<region>b`, …).
 * Named rather than looked up, so that synth needs no AWS credentials (build-app.ts records them as context).
 */
export function availabilityZones(config: DeployConfig["network"], region: string): string[] {
  return config.availabilityZones ?? [..."abcd".slice(0, config.maxAzs)].map((letter) => `${region}${letter}`);
}

/** The VPC: a new one (public, private with NAT, isolated; flow logs on), or an existing one looked up by id. */
export class Network extends Construct {
  readonly vpc: ec2.IVpc;

  constructor(scope: Construct, id: string, config: DeployConfig["network"], region: string) {
    super(scope, id);
    if (config.existingVpcId) {
      // Needs AWS credentials at the first synth; the answer is kept in cdk.context.json (commit it).
      this.vpc = ec2.Vpc.fromLookup(this, "Vpc", { vpcId: config.existingVpcId });
      return;
    }
    const vpc = new ec2.Vpc(this, "Vpc", {
      ipAddresses: ec2.IpAddresses.cidr(config.cidr),
      availabilityZones: availabilityZones(config, region),
      natGateways: config.natGateways,
      // Nothing uses the default security group; without its allow-all rules nothing can by mistake (Security Hub EC2.2).
      restrictDefaultSecurityGroup: true,
      subnetConfiguration: [
        { name: SUBNETS.public, subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: SUBNETS.origin, subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: SUBNETS.database, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    // Rejected and accepted flows, for investigating what reached (or tried to reach) the origin and the database.
    const flowLogs = new logs.LogGroup(this, "FlowLogs", {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    vpc.addFlowLog("FlowLog", { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs) });
    this.restrictDefaultSecurityGroupLogs();
    this.vpc = vpc;
  }

  /**
   * The function that empties the default security group (CDK's own provider) writes to a log group of its own, as the
   * stack's other functions do, instead of holding the AWS-managed basic execution policy (every log group).
   */
  private restrictDefaultSecurityGroupLogs(): void {
    const provider = Stack.of(this).node.tryFindChild("Custom::VpcRestrictDefaultSGCustomResourceProvider") as
      | CustomResourceProviderBase
      | undefined;
    const role = provider?.node.tryFindChild("Role") as CfnResource | undefined;
    const handler = provider?.node.tryFindChild("Handler") as CfnResource | undefined;
    if (!provider || !role || !handler) throw new Error("CDK's default security group provider changed: see network.ts");
    const logGroup = new logs.LogGroup(this, "DefaultSecurityGroupRestrictLogs", {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    provider.addToRolePolicy({
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: logGroup.logGroupArn,
    });
    role.addPropertyDeletionOverride("ManagedPolicyArns");
    handler.addPropertyOverride("LoggingConfig", { LogGroup: logGroup.logGroupName });
  }

  /** Where the database goes: isolated subnets when the VPC has them, else private ones. */
  get databaseSubnets(): ec2.SubnetSelection {
    return this.vpc.isolatedSubnets.length > 0
      ? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
      : { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  }
}
