import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as logs from "aws-cdk-lib/aws-logs";
import * as rds from "aws-cdk-lib/aws-rds";
import type * as sam from "aws-cdk-lib/aws-sam";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import { DEFAULT_APP_ROLE } from "../../origin/db/roles.ts";
import type { DeployConfig } from "../config/deploy-config.ts";
import { LogRetentionGrants } from "./log-retention-grants.ts";

/** The database the origin's migrations create its tables in. */
export const DATABASE_NAME = "mcp_edge_proxy";
/**
 * The RDS master user: the schema's owner, used only by the `migrate` init container (migrations and the app role's
 * grants). Named before the origin had a role of its own; a master user cannot be renamed without a new instance.
 */
export const DATABASE_USER = "mcp_origin";
/** The origin's own login (aws/origin/db/roles.ts): DML on its tables only, no DDL, owner of nothing. */
export const DATABASE_APP_USER = DEFAULT_APP_ROLE;
/** What RDS-generated passwords leave out (the DatabaseSecret default): nothing a URL or a shell would mangle. */
const PASSWORD_EXCLUDED = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";
/** PostgreSQL's usual port; only the origin's security group may reach it. */
export const DATABASE_PORT = 5432;
/** When both passwords rotate unless the configuration says otherwise: the first Sunday of each month, 04:00 UTC. */
export const DEFAULT_ROTATION_SCHEDULE = "cron(0 4 ? * SUN#1 *)";
/** How long each rotation's window stays open (deploy-config.ts's schedules leave room for it before midnight). */
export const ROTATION_WINDOW = Duration.hours(2);

/** The ScheduleExpression of both rotations: the configured cron or interval, else the default. */
export function rotationSchedule(config: DeployConfig["database"]): string {
  if (config.credentialRotationDays !== undefined) return `rate(${config.credentialRotationDays} days)`;
  return config.credentialRotationSchedule ?? DEFAULT_ROTATION_SCHEDULE;
}

export interface DatabaseProps {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  config: DeployConfig["database"];
  name: string;
}

/**
 * PostgreSQL on RDS for the audit trail and the replay guard: private subnets, encrypted storage, TLS enforced,
 * automated backups, deletion protection, a snapshot if the stack is ever deleted, and two logins whose passwords
 * Secrets Manager keeps and rotates on a schedule: the master user (the schema's owner, for migrations) and the
 * origin's own role (created by the migration command, aws/origin/db/migrate-cli.ts, with exactly its grants).
 */
export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  /** The master user's secret (`<name>/database`): only the `migrate` init container receives it. */
  readonly secret: secretsmanager.ISecret;
  /**
   * The origin's own login (`<name>/database-app`: username, password, host, port, dbname): the origin container's
   * PGUSER, and the password its pool reads from Secrets Manager when it connects.
   */
  readonly appSecret: secretsmanager.ISecret;

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
    // RDS creates the exported log's group itself (`/aws/rds/instance/<id>/postgresql`), without an expiry, and Lambda
    // each rotation function's at its first run: CDK's LogRetention function sets one on each, allowed those alone.
    // The instance keeps the identifier CloudFormation generated: naming it (to create the group first) would replace it.
    const retention = new LogRetentionGrants(this);
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
      // Who connected from where (log_connections, on a pool that recycles connections): three months, as the flow logs.
      cloudwatchLogsRetention: logs.RetentionDays.THREE_MONTHS,
      cloudwatchLogsRetentionRole: retention.role,
      // Which statements load the database: the DatabaseCpu alarm's first look (docs/operations.md). Seven days are
      // kept, which RDS for PostgreSQL includes at no charge on every instance class (standard Database Insights).
      enablePerformanceInsights: true,
      performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT,
    });
    const exported = this.instance.node.findChild("LogRetentionpostgresql");
    retention.allow(`/aws/rds/instance/${this.instance.instanceIdentifier}/postgresql`, exported);
    this.secret = this.instance.secret as secretsmanager.ISecret;
    // Kept, as the instance is (its final snapshot): a snapshot restores with the master password of this secret, and
    // the origin role's password is in the other; deleted with the stack, nobody would hold either. Their fixed names
    // then block a new stack of the same name: docs/deploy.md, "Deploying again after deleting the data stack".
    (this.instance.node.findChild("Secret") as secretsmanager.Secret).applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(this.instance).acknowledge({
      id: "AwsSolutions-RDS11",
      reason:
        "The default port hides nothing from an attacker who can reach the subnet; the security group admits only the origin's tasks.",
    });
    // The rotation function must reach the Secrets Manager API: run it in the subnets with a NAT route.
    const masterRotation = this.instance.addRotationSingleUser({
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });

    // The origin's login. The role itself is made by the migrate init container (with the master secret), which also
    // sets its password from this secret at every task start. Rotated single-user: the function logs in as the role
    // and changes its own password (any role may); not at once on creation, when the role does not exist yet. Running
    // tasks need no redeploy: the origin reads the password from this secret when it opens a connection, and again
    // (AWSCURRENT, AWSPENDING, AWSPREVIOUS) when the database refuses it (origin-container.ts).
    const appSecret = new rds.DatabaseSecret(this, "AppSecret", {
      username: DATABASE_APP_USER,
      dbname: DATABASE_NAME,
      secretName: `${props.name}/database-app`,
      excludeCharacters: PASSWORD_EXCLUDED,
    });
    appSecret.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.appSecret = appSecret.attach(this.instance);
    const appRotation = new secretsmanager.SecretRotation(this, "AppRotation", {
      application: secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
      secret: this.appSecret,
      target: this.instance,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      excludeCharacters: PASSWORD_EXCLUDED,
      rotateImmediatelyOnUpdate: false,
    });
    this.scheduleRotations(rotationSchedule(props.config));
    for (const [id, rotation] of [
      ["MasterRotationLogRetention", masterRotation],
      ["AppRotationLogRetention", appRotation],
    ] as const)
      retention.retain(id, `/aws/lambda/${rotationFunctionName(rotation)}`, logs.RetentionDays.THREE_MONTHS);
  }

  /**
   * CDK writes only an interval (`rate(30 days)`), whose window Secrets Manager opens at 00:00 UTC and leaves open all
   * day, so the hour of a rotation was chance. Both schedules get the configured expression and a window of
   * ROTATION_WINDOW instead. Running tasks no longer notice a rotation; what still may is a task starting at that
   * moment, whose containers were handed the master password before it changed (its migrate container fails, ECS
   * starts another), or an operator's one-off task.
   */
  private scheduleRotations(expression: string): void {
    const schedules = this.node
      .findAll()
      .filter(
        (construct): construct is secretsmanager.CfnRotationSchedule => construct instanceof secretsmanager.CfnRotationSchedule,
      );
    if (schedules.length !== 2)
      throw new Error(`expected the two passwords' rotation schedules, found ${schedules.length}: see database.ts`);
    for (const schedule of schedules)
      schedule.addPropertyOverride("RotationRules", {
        ScheduleExpression: expression,
        Duration: `${ROTATION_WINDOW.toHours()}h`,
      });
  }
}

/** The name of a rotation function, which CDK gives the application from the Serverless Application Repository. */
function rotationFunctionName(rotation: secretsmanager.SecretRotation): string {
  const parameters = (rotation.node.defaultChild as sam.CfnApplication | undefined)?.parameters as
    | Record<string, string>
    | undefined;
  const name = parameters?.functionName;
  if (!name) throw new Error("CDK's secret rotation no longer names its function: see database.ts");
  return name;
}
