import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { DeployConfig } from "../config/deploy-config.ts";
import { AccessLogsBucket } from "./access-logs-bucket.ts";
import { Database } from "./database.ts";
import { Network } from "./network.ts";
import { OriginKeys } from "./origin-keys.ts";
import { OriginSecrets } from "./origin-secrets.ts";

/**
 * What outlives a redeploy of the service: the network, the audit database, the secrets, the origin's KMS keys and
 * the access logs. Deployed first and rarely changed; the service stack reads these through cross-stack references.
 */
export class DataStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly secrets: OriginSecrets;
  readonly keys: OriginKeys;
  readonly accessLogs: AccessLogsBucket;

  constructor(scope: Construct, id: string, config: DeployConfig, props: StackProps = {}) {
    super(scope, id, { ...props, terminationProtection: true });
    this.network = new Network(this, "Network", config.network, config.region);
    this.database = new Database(this, "Database", {
      vpc: this.network.vpc,
      subnets: this.network.databaseSubnets,
      config: config.database,
      name: config.name,
    });
    this.secrets = new OriginSecrets(this, "Secrets", {
      name: config.name,
      upstreamSecrets: config.origin.upstreamSecrets,
      edgeKey: config.origin.edgeKey,
    });
    this.keys = new OriginKeys(this, "Keys", {
      name: config.name,
      auditCheckpointKeyArn: config.origin.auditCheckpointKeyArn,
      upstreamVaultKeyArn: config.origin.upstreamVaultKeyArn,
    });
    this.accessLogs = new AccessLogsBucket(this, "AccessLogs");

    new CfnOutput(this, "AuditCheckpointKeyArn", {
      value: this.keys.auditCheckpoints.keyArn,
      description:
        "KMS key signing the audit checkpoints. Its public half, for npm run audit -- verify --public-key: aws kms get-public-key --key-id <this> --query PublicKey --output text | base64 -d > checkpoints.der",
    });
    new CfnOutput(this, "UpstreamVaultKeyArn", {
      value: this.keys.upstreamVault.keyArn,
      description:
        "KMS key wrapping the stored upstream OAuth tokens; retained if the stack is deleted: keep it while any token is stored",
    });
  }
}
