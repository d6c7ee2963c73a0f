import { Duration } from "aws-cdk-lib";
import * as acm from "aws-cdk-lib/aws-certificatemanager";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as elbv2 from "aws-cdk-lib/aws-elasticloadbalancingv2";
import * as route53 from "aws-cdk-lib/aws-route53";
import * as targets from "aws-cdk-lib/aws-route53-targets";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import type { CloudflareIpRanges } from "../cloudflare-ips.ts";
import type { DeployConfig } from "../config/deploy-config.ts";

/** Stickiness the edge relies on: the origin names its instance in this cookie, and the ALB keeps a user on it. */
export const STICKINESS_COOKIE = "MCP_ORIGIN";
export const STICKINESS_DURATION = Duration.days(1);
/**
 * How long the ALB keeps an idle connection: MCP streams (SSE) can be quiet for long stretches, and the default 60 s
 * would cut them. The origin keeps its connections open longer (`ORIGIN_KEEP_ALIVE_MS`), so the ALB closes first.
 */
export const ALB_IDLE_TIMEOUT = Duration.minutes(30);

export interface LoadBalancerProps {
  vpc: ec2.IVpc;
  config: DeployConfig["origin"];
  cloudflare: CloudflareIpRanges;
  accessLogs: s3.IBucket;
}

/**
 * The origin's public door: an ALB that accepts HTTPS only from Cloudflare's published ranges (the edge's Workers
 * reach it from there; everything else is dropped before it reaches a task), with the certificate for the origin's
 * host name and access logs. The origin still checks an edge assertion on every request: Cloudflare's ranges are
 * shared by all its customers, so the allow-list narrows exposure; it does not authenticate.
 */
export class LoadBalancer extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc: props.vpc,
      description: "MCP origin ALB: HTTPS from the published Cloudflare IPv4 ranges only",
      allowAllOutbound: false,
    });
    // The ALB is IPv4 (its DNS name has only A records), so Cloudflare connects to it over IPv4.
    for (const cidr of props.cloudflare.ipv4) {
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), `Cloudflare ${cidr}`);
    }

    this.alb = new elbv2.ApplicationLoadBalancer(this, "Alb", {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      dropInvalidHeaderFields: true,
      idleTimeout: ALB_IDLE_TIMEOUT,
      // The edge's CNAME names this ALB's generated DNS name, which a new ALB would not have: neither a `cdk destroy`
      // nor a change that replaces it may delete it unnoticed. To remove it on purpose, see docs/deploy.md.
      deletionProtection: true,
    });
    this.alb.logAccessLogs(props.accessLogs, "origin-alb");

    this.listener = this.alb.addListener("Https", {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [this.certificate(props.config)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      // Ingress is what the security group above allows, not the whole internet.
      open: false,
    });

    if (props.config.route53Zone) {
      new route53.ARecord(this, "Alias", {
        zone: this.zone(props.config),
        recordName: props.config.hostname,
        target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(this.alb)),
      });
    }
  }

  private certificate(config: DeployConfig["origin"]): acm.ICertificate {
    if (config.certificateArn) return acm.Certificate.fromCertificateArn(this, "Certificate", config.certificateArn);
    return new acm.Certificate(this, "Certificate", {
      domainName: config.hostname,
      // Without a Route 53 zone, the stack waits until you add the validation CNAME that ACM shows (docs/deploy.md).
      validation: config.route53Zone ? acm.CertificateValidation.fromDns(this.zone(config)) : acm.CertificateValidation.fromDns(),
    });
  }

  private zone(config: DeployConfig["origin"]): route53.IHostedZone {
    const existing = this.node.tryFindChild("Zone") as route53.IHostedZone | undefined;
    if (existing) return existing;
    const { hostedZoneId, zoneName } = config.route53Zone as { hostedZoneId: string; zoneName: string };
    return route53.HostedZone.fromHostedZoneAttributes(this, "Zone", { hostedZoneId, zoneName });
  }
}
