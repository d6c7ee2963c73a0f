import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Template } from "aws-cdk-lib/assertions";
import { type BuiltApp, buildApp } from "../../aws/cdk/build-app.ts";
import type { DeployConfig } from "../../aws/cdk/config/deploy-config.ts";
import { EXAMPLE_DEPLOY_CONFIG, loadDeployConfig } from "../../aws/cdk/config/load-deploy-config.ts";

export interface Synthesized extends BuiltApp {
  config: DeployConfig;
  dataTemplate: Template;
  serviceTemplate: Template;
}

/** Both stacks from the example configuration (optionally changed), synthesized into a temporary directory. */
export function synthesizeExample(change: (config: DeployConfig) => void = () => {}): Synthesized {
  const config = loadDeployConfig(EXAMPLE_DEPLOY_CONFIG);
  change(config);
  const built = buildApp(config, { outdir: mkdtempSync(join(tmpdir(), "mcp-cdk-")) });
  return {
    ...built,
    config,
    dataTemplate: Template.fromStack(built.data),
    serviceTemplate: Template.fromStack(built.service),
  };
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** Every resource of one CloudFormation type in a template, by logical id. */
export function resourcesOf(template: Template, type: string): [string, Record<string, unknown>][] {
  const resources = (template.toJSON() as { Resources: Resources }).Resources;
  return Object.entries(resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);
}

/** The origin container's environment in the service stack, by variable name (imports left as their tokens). */
export function originEnvironmentOf(synth: Synthesized): Map<string, unknown> {
  const containers = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition").flatMap(
    ([, task]) => task.ContainerDefinitions as { Name: string; Environment?: { Name: string; Value: unknown }[] }[],
  );
  const origin = containers.find((container) => container.Name === "origin");
  if (!origin) throw new Error("no origin container in the service stack");
  return new Map((origin.Environment ?? []).map((variable) => [variable.Name, variable.Value]));
}
