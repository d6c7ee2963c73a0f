import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as rds from "aws-cdk-lib/aws-rds";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { DeployConfig } from "../config/deploy-config.ts";

/** The database the origin's migrations create its tables in. */
export const DATABASE_NAME = "mcp_edge_proxy";
/** The login the origin uses (and that rotation changes the password of). */
export const DATABASE_USER = "mcp_origin";
/** PostgreSQL's usual port; only the origin's security group may reach it. */
export const DATABASE_PORT = 5432;

export interface DatabaseProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  config: DeployConfig["database"];
  name: string;
}

/**
 * PostgreSQL on RDS for the audit trail and the replay guard: private subnets, encrypted storage, TLS enforced,
 * automated backups, deletion protection, a snapshot if the stack is ever deleted, and a password kept in
 * Secrets Manager and rotated on a schedule.
 */
export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 });
    const parameterGroup = new rds.ParameterGroup(this, "Parameters", {
      engine,
      parameters: {
        // Refuse unencrypted connections (the origin connects with sslmode=verify-full).
        "rds.force_ssl": "1",
        // Who connected from where, for the security review of the audit database itself.
        log_connections: "1",
        log_disconnections: "1",
      },
    });
    this.instance = new rds.DatabaseInstance(this, "Instance", {
      engine,
      parameterGroup,
      instanceType: new ec2.InstanceType(props.config.instanceType),
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      publiclyAccessible: false,
      multiAz: props.config.multiAz,
      databaseName: DATABASE_NAME,
      port: DATABASE_PORT,
      credentials: rds.Credentials.fromGeneratedSecret(DATABASE_USER, { secretName: `${props.name}/database` }),
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: props.config.allocatedStorageGiB,
      maxAllocatedStorage: props.config.maxAllocatedStorageGiB,
      backupRetention: Duration.days(props.config.backupRetentionDays),
      copyTagsToSnapshot: true,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      autoMinorVersionUpgrade: true,
      cloudwatchLogsExports: ["postgresql"],
      enablePerformanceInsights: false,
    });
    this.secret = this.instance.secret as secretsmanager.ISecret;
    Validations.of(this.instance).acknowledge({
      id: "AwsSolutions-RDS11",
      reason:
        "The default port hides nothing from an attacker who can reach the subnet; the security group admits only the origin's tasks.",
    });
    // The rotation function must reach the Secrets Manager API: run it in the subnets with a NAT route.
    this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(props.config.credentialRotationDays),
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });
  }
}
