import { CfnOutput, Fn, Stack, type StackProps } from "aws-cdk-lib";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import type * as ecs from "aws-cdk-lib/aws-ecs";
import type { Construct } from "constructs";
import type { CloudflareIpRanges } from "../cloudflare-ips.ts";
import type { DeployConfig } from "../config/deploy-config.ts";
import type { DataStack } from "../data/data-stack.ts";
import { DATABASE_PORT } from "../data/database.ts";
import { AuditQueueMetrics } from "./audit-queue-metrics.ts";
import { LoadBalancer } from "./load-balancer.ts";
import { Monitoring } from "./monitoring.ts";
import { migrationSettings, originSettings } from "./origin-container.ts";
import { OriginService } from "./origin-service.ts";
import { WorkloadIdentityOutputs } from "./workload-identity-outputs.ts";

export interface ServiceStackProps extends StackProps {
  config: DeployConfig;
  data: DataStack;
  cloudflare: CloudflareIpRanges;
  /** The origin's image; by default built from the repository's Dockerfile during `cdk deploy`. */
  image: ecs.ContainerImage;
}

/** The origin service and everything around it: ALB, ECS, autoscaling, WIF outputs, dashboard and alarms. */
export class ServiceStack extends Stack {
  readonly loadBalancer: LoadBalancer;
  readonly origin: OriginService;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    const vpc = data.network.vpc;

    this.loadBalancer = new LoadBalancer(this, "LoadBalancer", {
      vpc,
      config: config.origin,
      cloudflare: props.cloudflare,
      accessLogs: data.accessLogs.bucket,
    });
    this.origin = new OriginService(this, "Origin", {
      vpc,
      config,
      image: props.image,
      loadBalancer: this.loadBalancer,
      settings: originSettings({
        config,
        database: data.database.instance,
        databaseSecret: data.database.appSecret,
        requestStateKey: data.secrets.requestStateKey,
        upstreamIdentitySigningKey: data.secrets.upstreamIdentitySigningKey,
        edgeSharedKey: data.secrets.edgeSharedKey,
        upstreamSecretPrefix: data.secrets.upstreamPrefix,
        keys: data.keys,
      }),
      migration: migrationSettings({
        config,
        database: data.database.instance,
        masterSecret: data.database.secret,
        appSecret: data.database.appSecret,
      }),
      upstreamSecrets: [...data.secrets.upstream.values()],
      databaseSecret: data.database.appSecret,
      keys: data.keys,
    });
    // Created in this stack (remote rule), so the data stack never refers to the service stack's security group.
    for (const databaseGroup of data.database.instance.connections.securityGroups) {
      databaseGroup.addIngressRule(
        this.origin.service.connections.securityGroups[0] as ec2.ISecurityGroup,
        ec2.Port.tcp(DATABASE_PORT),
        "MCP origin tasks",
        true,
      );
    }

    const { accountId, auditQueueId, deadLetterQueueId } = config.cloudflare;
    const auditQueues =
      accountId && auditQueueId && deadLetterQueueId
        ? new AuditQueueMetrics(this, "AuditQueueMetrics", { name: config.name, accountId, auditQueueId, deadLetterQueueId })
        : undefined;
    this.monitoring = new Monitoring(this, "Monitoring", {
      config,
      alb: this.loadBalancer.alb,
      targetGroup: this.origin.targetGroup,
      service: this.origin.service,
      originLogs: this.origin.logGroup,
      database: data.database.instance,
      databaseSecrets: [data.database.secret, data.database.appSecret],
      auditQueues,
    });
    new WorkloadIdentityOutputs(this, "WorkloadIdentity", { taskRole: this.origin.taskRole });

    new CfnOutput(this, "OriginUrl", {
      value: `https://${config.origin.hostname}`,
      description: "The edge's ORIGIN_URL (wrangler.toml [env.production.vars])",
    });
    new CfnOutput(this, "LoadBalancerDnsName", {
      value: this.loadBalancer.alb.loadBalancerDnsName,
      description: `Point ${config.origin.hostname} here (CNAME), unless the stack manages a Route 53 alias`,
    });
    new CfnOutput(this, "OriginLogGroup", {
      value: this.origin.logGroup.logGroupName,
      description: "The origin's logs: aws logs tail <this> --follow",
    });
    new CfnOutput(this, "OriginService", {
      value: Fn.join(" ", ["--cluster", this.origin.cluster.clusterName, "--services", this.origin.service.serviceName]),
      description: "aws ecs describe-services <this>",
    });
    // update-service names one service (`--service`), describe-services a list (`--services`): the two plain names
    // fit both, and every other ECS command.
    new CfnOutput(this, "OriginClusterName", {
      value: this.origin.cluster.clusterName,
      description:
        "The origin's ECS cluster: aws ecs update-service --cluster <this> --service <OriginServiceName> --force-new-deployment",
    });
    new CfnOutput(this, "OriginServiceName", {
      value: this.origin.service.serviceName,
      description: "The origin's ECS service, in the cluster OriginClusterName",
    });
    // An operator's commands (npm run pins, audit, policy, upstream-connections, a migration, SQL as the master user)
    // reach the private database as a one-off task of the origin's own task definition, where the service's tasks
    // run: `aws ecs run-task` needs these three and the cluster (docs/operations.md).
    new CfnOutput(this, "OriginTaskDefinitionFamily", {
      value: this.origin.taskDefinition.family,
      description: "The origin's task definition: aws ecs run-task --task-definition <this> (its latest revision)",
    });
    new CfnOutput(this, "OriginTaskSubnets", {
      value: Fn.join(",", this.origin.subnets.subnetIds),
      description: "The origin tasks' private subnets: awsvpcConfiguration={subnets=[<this>],…} of aws ecs run-task",
    });
    new CfnOutput(this, "OriginTaskSecurityGroup", {
      value: (this.origin.service.connections.securityGroups[0] as ec2.ISecurityGroup).securityGroupId,
      description: "The origin tasks' security group, which the database admits: securityGroups=[<this>] of aws ecs run-task",
    });
    new CfnOutput(this, "AlarmTopicArn", { value: this.monitoring.topic.topicArn, description: "SNS topic of every alarm" });
  }
}
