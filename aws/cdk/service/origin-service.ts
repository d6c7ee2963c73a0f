import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { DeployConfig } from "../config/deploy-config.ts";
import type { OriginKey } from "../data/origin-keys.ts";
import { grantOriginKeys } from "./key-permissions.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { STICKINESS_COOKIE, STICKINESS_DURATION } from "./load-balancer.ts";
import { MIGRATE_CONTAINER_COMMAND, ORIGIN_PORT } from "./origin-container.ts";

/**
 * Capabilities of Fargate's default set the origin never uses: all but SETUID, SETGID, SETPCAP (a child's user,
 * without capabilities), KILL (a child's leftovers), CHOWN, DAC_OVERRIDE, FOWNER (the children's home directories).
 * NET_BIND_SERVICE goes too: the origin listens on 8788 and a metrics port must be 1024 or above (deploy-config.ts).
 */
export const UNNEEDED_CAPABILITIES = [
  ecs.Capability.AUDIT_WRITE,
  ecs.Capability.FSETID,
  ecs.Capability.MKNOD,
  ecs.Capability.NET_BIND_SERVICE,
  ecs.Capability.NET_RAW,
  ecs.Capability.SETFCAP,
  ecs.Capability.SYS_CHROOT,
];

/** The same check as the Dockerfile's HEALTHCHECK (ECS does not use the image's own). */
const LIVENESS_CHECK = `fetch('http://127.0.0.1:${ORIGIN_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;

export interface OriginServiceProps {
  vpc: ec2.IVpc;
  config: DeployConfig;
  image: ecs.ContainerImage;
  loadBalancer: LoadBalancer;
  settings: { environment: Record<string, string>; secrets: Record<string, ecs.Secret> };
  /** The `migrate` init container's settings (origin-container.ts migrationSettings): the master user's login. */
  migration: { environment: Record<string, string>; secrets: Record<string, ecs.Secret> };
  /** The upstream credentials the origin reads at run time: the task role may read these. */
  upstreamSecrets: secretsmanager.ISecret[];
  /** The origin role's database secret, whose password the origin's pool reads when it connects (origin-container.ts): the task role may read it. */
  databaseSecret: secretsmanager.ISecret;
  /** The KMS keys of audit checkpoints and of the upstream token vault: the task role may use these as the origin does. */
  keys: { auditCheckpoints: OriginKey; upstreamVault: OriginKey };
}

/**
 * The origin on ECS Fargate: at least two tasks in private subnets behind the ALB, target health on /healthz,
 * application-cookie stickiness (a user's stdio children live in one task), autoscaling on CPU and requests,
 * rolling deployments that roll back by themselves when new tasks never become healthy.
 *
 * Database migrations need no separate step: each task first runs a non-essential `migrate` container (the same
 * image, `node aws/origin/db/migrate-cli.ts`) with the RDS master user's secret, which applies them under a
 * PostgreSQL advisory lock (the first new task of a rolling deploy applies them, the rest wait) and makes sure the
 * origin's own role exists with exactly its grants. The origin container starts only once it exited 0, as that role,
 * which may not change the schema: it checks that the schema is current and refuses to start otherwise. The master
 * secret reaches that container alone, through the execution role; the task role cannot read it.
 */
export class OriginService extends Construct {
  readonly service: ecs.FargateService;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly taskRole: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** Where the tasks run: also where an operator's one-off task must run to reach the database (docs/operations.md). */
  readonly subnets: ec2.SelectedSubnets;

  constructor(scope: Construct, id: string, props: OriginServiceProps) {
    super(scope, id);
    const { config } = props;
    this.cluster = new ecs.Cluster(this, "Cluster", {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.logGroup = new logs.LogGroup(this, "Logs", {
      retention: config.origin.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The identity the origin's code runs as: upstream credentials, its database password, its KMS keys, and the AWS
    // side of Google Workload Identity Federation (Google's pool trusts this role's sessions; GetCallerIdentity needs
    // no permission).
    this.taskRole = new iam.Role(this, "TaskRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description:
        "MCP origin tasks: read the upstream credentials and the database password, sign audit checkpoints, seal upstream tokens; the role Google's workload identity pool trusts",
    });
    for (const secret of props.upstreamSecrets) secret.grantRead(this.taskRole);
    // GetSecretValue alone (grantRead adds DescribeSecret, which the pool never calls): any version stage, since after
    // a refused password it reads AWSPENDING and AWSPREVIOUS too.
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [props.databaseSecret.secretArn] }),
    );
    grantOriginKeys(this.taskRole, props.keys);

    const task = new ecs.FargateTaskDefinition(this, "Task", {
      cpu: config.origin.cpu,
      memoryLimitMiB: config.origin.memoryMiB,
      taskRole: this.taskRole,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: config.origin.architecture === "arm64" ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      },
    });
    this.taskDefinition = task;
    // The origin runs as root only to start each stdio child as a user of its own (the Dockerfile says why): an init
    // process reaps what children leave behind, and the capabilities it never needs are dropped.
    const linuxParameters = new ecs.LinuxParameters(this, "OriginLinux", { initProcessEnabled: true });
    linuxParameters.dropCapabilities(...UNNEEDED_CAPABILITIES);
    const origin = task.addContainer("origin", {
      image: props.image,
      linuxParameters,
      environment: props.settings.environment,
      secrets: props.settings.secrets,
      portMappings: [
        { containerPort: ORIGIN_PORT },
        ...(config.origin.metricsPort !== undefined ? [{ containerPort: config.origin.metricsPort }] : []),
      ],
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: "origin" }),
      // Liveness only (the process answers), as the ALB's check is.
      healthCheck: {
        command: ["CMD", "node", "-e", LIVENESS_CHECK],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      // What close() (aws/origin/start-origin.ts) may take after SIGTERM: 20 s for requests in flight
      // (ORIGIN_SHUTDOWN_GRACE_MS), the stdio children (a child that ignores its closed stdin is killed after 2 + 2 s, one
      // starting finishes its start first), the hourly audit retention's delete in progress, the origin events' flush
      // (5 s), the last checkpoint's KMS signature (with the SDK's retries) and the pool's end. 30 s was below that in
      // the worst case, and a SIGKILL skips the last checkpoint. Fargate's maximum costs nothing: the task has left
      // the target group before SIGTERM, and it stops as soon as the process exits.
      stopTimeout: Duration.seconds(120),
    });
    // Runs to completion before the origin starts; as the image's unprivileged `node` user, without any capability.
    const migrateLinux = new ecs.LinuxParameters(this, "MigrateLinux");
    migrateLinux.dropCapabilities(ecs.Capability.ALL);
    const migrate = task.addContainer("migrate", {
      image: props.image,
      essential: false,
      command: MIGRATE_CONTAINER_COMMAND,
      user: "node",
      readonlyRootFilesystem: true,
      linuxParameters: migrateLinux,
      environment: props.migration.environment,
      secrets: props.migration.secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: "migrate" }),
    });
    origin.addContainerDependencies({ container: migrate, condition: ecs.ContainerDependencyCondition.SUCCESS });

    Validations.of(task).acknowledge({
      id: "AwsSolutions-ECS2",
      reason:
        "Environment variables hold only non-secret settings (URLs, host names, the server list, the database secret's ARN); every credential is an ECS secret resolved at task start or, the database password, read by the origin from Secrets Manager, which test/aws/security-properties.test.ts asserts, and a credential written as a plain value in the server list is refused at synth (test/aws/deploy-config.test.ts).",
    });
    Validations.of(task.obtainExecutionRole()).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ecr:GetAuthorizationToken, which ECS needs to pull the image, has no resource-level permissions: AWS requires Resource *.",
    });

    const vpcSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    this.subnets = props.vpc.selectSubnets(vpcSubnets);
    this.service = new ecs.FargateService(this, "Service", {
      cluster: this.cluster,
      taskDefinition: task,
      // No desiredCount: CloudFormation sends the one in the template with every update of the service (each release's
      // new task definition), which cut a service autoscaling had grown back to minTasks at once, stopping the tasks
      // beyond it with their users' children. Left out, an update keeps the running count; a new service starts one
      // task, and registering the scalable target below (MinCapacity minTasks, created after the service) raises it.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      vpcSubnets,
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      // No deploymentAlarms: the stack's alarms see more than a deploy. ServerErrorRate counts upstreams' and the
      // database's 5xx (a failover, an upstream down), which would mark a deploy under way failed and roll it back; it
      // or HealthyTargets being in ALARM while a fix is deployed would risk rolling the fix back. Tasks that never
      // become healthy are the circuit breaker's.
      // Migrations run before the origin starts and children spawn on first use: give a new task time before health counts.
      healthCheckGracePeriod: Duration.seconds(120),
    });

    this.targetGroup = new elbv2.ApplicationTargetGroup(this, "Targets", {
      vpc: props.vpc,
      port: ORIGIN_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [this.service],
      // The process answers: not /readyz, which includes the database. Every task shares one database, and ECS replaces
      // the tasks the ALB marks unhealthy: a failover of a minute or two would replace them all, every user's stdio
      // children with them, while new tasks could not migrate. A database away shows as 503s (ServerErrorRate).
      healthCheck: {
        path: "/healthz",
        healthyHttpCodes: "200",
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // Let a draining task finish its requests; long streams are cut and clients reconnect elsewhere.
      deregistrationDelay: Duration.seconds(60),
    });
    this.targetGroup.enableCookieStickiness(STICKINESS_DURATION, STICKINESS_COOKIE);
    props.loadBalancer.listener.addTargetGroups("Origin", { targetGroups: [this.targetGroup] });
    this.service.connections.allowFrom(props.loadBalancer.securityGroup, ec2.Port.tcp(ORIGIN_PORT), "ALB to origin");
    // The metrics port answers without an edge assertion: reachable from inside the VPC only, never from the ALB.
    // A new VPC's range is the configured one, not `vpc.vpcCidrBlock`: that is a reference to the data stack, known
    // only at deploy, and cdk-nag's AwsSolutions-EC23 (no ingress from 0.0.0.0/0), which cannot judge a value it
    // cannot read, throws on it and stops the synth. A looked-up VPC's range is a plain value (cdk.context.json).
    if (config.origin.metricsPort !== undefined) {
      const vpcCidr = config.network.existingVpcId ? props.vpc.vpcCidrBlock : config.network.cidr;
      this.service.connections.allowFrom(
        ec2.Peer.ipv4(vpcCidr),
        ec2.Port.tcp(config.origin.metricsPort),
        "Prometheus inside the VPC to the origin's metrics port",
      );
    }

    const scaling = this.service.autoScaleTaskCount({ minCapacity: config.origin.minTasks, maxCapacity: config.origin.maxTasks });
    scaling.scaleOnCpuUtilization("Cpu", { targetUtilizationPercent: config.origin.cpuTargetPercent });
    scaling.scaleOnRequestCount("Requests", {
      requestsPerTarget: config.origin.requestsPerTaskPerMinute,
      targetGroup: this.targetGroup,
    });
  }
}
