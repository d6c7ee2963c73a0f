import { Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ConfigError } from "../../contract/config/load.ts";
import { buildApp } from "./build-app.ts";
import { EXAMPLE_DEPLOY_CONFIG, loadDeployConfig } from "./config/load-deploy-config.ts";

/**
 * The CDK app of the AWS tier (`npm run cdk:synth`, `npm run cdk:deploy`). The deployment configuration is the
 * file named by MCP_DEPLOY_CONFIG, or the example in this folder, which synthesizes offline but deploys nowhere
 * useful. cdk-nag's AwsSolutions checks run on every synth and stop it on any unacknowledged finding.
 */
const configFile = process.env.MCP_DEPLOY_CONFIG ?? EXAMPLE_DEPLOY_CONFIG;
try {
  const { app } = buildApp(loadDeployConfig(configFile));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  if (configFile === EXAMPLE_DEPLOY_CONFIG) {
    console.error("Using the example deployment configuration; set MCP_DEPLOY_CONFIG to your own file to deploy.");
  }
  app.synth();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
