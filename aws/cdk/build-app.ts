import { App, Tags } from "aws-cdk-lib";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import * as ecs from "aws-cdk-lib/aws-ecs";
import { type CloudflareIpRanges, loadCloudflareIpRanges } from "./cloudflare-ips.ts";
import type { DeployConfig } from "./config/deploy-config.ts";
import { DataStack } from "./data/data-stack.ts";
import { availabilityZones } from "./data/network.ts";
import { ServiceStack } from "./service/service-stack.ts";

/** The repository root: the Docker build context of the origin's image. */
export const REPOSITORY_ROOT = new URL("../../", import.meta.url).pathname;

/** CDK behaviours chosen explicitly, the same under the CLI (cdk.json) and in tests. */
const FEATURE_FLAGS = {
  // The data stack keeps every export the service stack uses until the service stops using it.
  "@aws-cdk/core:defaultCrossStackReferences": "strong",
};

export interface BuiltApp {
  app: App;
  data: DataStack;
  service: ServiceStack;
}

/** Both stacks of the AWS tier for one deployment configuration. */
export function buildApp(
  config: DeployConfig,
  options: { outdir?: string; cloudflare?: CloudflareIpRanges; image?: ecs.ContainerImage } = {},
): BuiltApp {
  const app = new App({
    outdir: options.outdir,
    context: {
      ...FEATURE_FLAGS,
      // What a lookup of the region's zones would have cached in cdk.context.json: the zones the VPC uses.
      [`availability-zones:account=${config.account}:region=${config.region}`]: availabilityZones(config.network, config.region),
    },
  });
  const env = { account: config.account, region: config.region };
  const stackName = (part: string) => `${config.name}-${part}`;
  const data = new DataStack(app, stackName("data"), config, {
    env,
    description: "MCP edge proxy, AWS tier: network, audit database, secrets (persistent)",
  });
  const image =
    options.image ??
    ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
      file: "Dockerfile",
      platform: config.origin.architecture === "arm64" ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
  const service = new ServiceStack(app, stackName("service"), {
    env,
    description: "MCP edge proxy, AWS tier: the origin on ECS behind an ALB that admits only Cloudflare",
    config,
    data,
    cloudflare: options.cloudflare ?? loadCloudflareIpRanges(),
    image,
  });
  service.addStackDependency(data);
  Tags.of(app).add("project", "mcp-edge-proxy");
  Tags.of(app).add("deployment", config.name);
  return { app, data, service };
}
