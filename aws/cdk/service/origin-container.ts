import * as ecs from "aws-cdk-lib/aws-ecs";
import type * as rds from "aws-cdk-lib/aws-rds";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { MIGRATE_COMMAND } from "../../origin/db/ensure-schema.ts";
import { SECRET_ID_PREFIX_VARIABLE } from "../../origin/secrets/aws/secrets-manager-provider.ts";
import type { DeployConfig } from "../config/deploy-config.ts";
import { derivedMaxProcesses, tuningEnvironment } from "../config/origin-tuning.ts";
import { DATABASE_NAME } from "../data/database.ts";
import type { OriginKey } from "../data/origin-keys.ts";

/** The port the origin listens on inside its task; only the ALB's security group may reach it. */
export const ORIGIN_PORT = 8788;

/** What the `migrate` init container runs, in the origin's image: migrations, then the origin's role and its grants. */
export const MIGRATE_CONTAINER_COMMAND = MIGRATE_COMMAND.split(" ");

export interface OriginSettingsInput {
  config: DeployConfig;
  database: rds.DatabaseInstance;
  /** The origin's own login (the app role's secret), never the master user's. */
  databaseSecret: secretsmanager.ISecret;
  requestStateKey: secretsmanager.ISecret;
  upstreamIdentitySigningKey: secretsmanager.ISecret;
  /** The edge's shared HMAC key, when it signs with one (`edgeKey: "shared"`). */
  edgeSharedKey?: secretsmanager.ISecret;
  upstreamSecretPrefix: string;
  /** The KMS keys that sign the audit checkpoints and wrap the upstream token vault's data keys. */
  keys: { auditCheckpoints: OriginKey; upstreamVault: OriginKey };
}

/**
 * The origin's configuration as its container receives it (names from contract/config/env-names.ts):
 * plain settings in `environment`, every credential in `secrets` by reference, resolved by ECS at task start.
 *
 * The database is reached through libpq's variables, which `pg` reads for whatever DATABASE_URL leaves out:
 * DATABASE_URL is the bare scheme `postgresql://` (the origin requires one), PGHOST/PGPORT/PGDATABASE are plain
 * facts, PGUSER comes from the `username` field of the origin role's secret, and PGSSLMODE=verify-full makes `pg`
 * check the server's certificate against the RDS CA bundle in the image (PGSSLROOTCERT, read by the pool alone:
 * aws/origin/db/pool.ts; no other TLS client of the process trusts it). The password is not an ECS secret, which
 * would be read once at task start: DATABASE_PASSWORD_SECRET names that secret (its ARN, not a credential), and the
 * pool reads its `password` when it opens a connection, again from the secret's stages when the database refuses it,
 * so a rotation of that password needs no redeploy (the task role may read that one secret: origin-service.ts).
 * The origin only verifies that the schema is current (DATABASE_MIGRATE=verify): its role may not migrate, the init
 * container did.
 */
export function originSettings(input: OriginSettingsInput): {
  environment: Record<string, string>;
  secrets: Record<string, ecs.Secret>;
} {
  const { config } = input;
  return {
    environment: {
      HOST: "0.0.0.0",
      PORT: String(ORIGIN_PORT),
      ORIGIN_PUBLIC_URL: `https://${config.origin.hostname}`,
      EDGE_ISSUER: config.origin.edgePublicUrl,
      MCP_SERVERS: JSON.stringify(config.origin.servers),
      ...databaseEnvironment(input.database),
      DATABASE_PASSWORD_SECRET: input.databaseSecret.secretArn,
      DATABASE_MIGRATE: "verify",
      ...retentionSettings(config),
      // Where the Secrets Manager provider finds upstream credentials by name.
      [SECRET_ID_PREFIX_VARIABLE]: input.upstreamSecretPrefix,
      ...keySettings(input.keys),
      ...(config.origin.metricsPort !== undefined && { METRICS_PORT: String(config.origin.metricsPort) }),
      ...(config.origin.policy && { MCP_POLICY: JSON.stringify(config.origin.policy) }),
      ...googleSettings(config),
      ...tuningSettings(config),
    },
    secrets: {
      PGUSER: ecs.Secret.fromSecretsManager(input.databaseSecret, "username"),
      REQUEST_STATE_KEY: ecs.Secret.fromSecretsManager(input.requestStateKey),
      UPSTREAM_IDENTITY_SIGNING_KEY: ecs.Secret.fromSecretsManager(input.upstreamIdentitySigningKey),
      ...(input.edgeSharedKey && { EDGE_ASSERTION_SHARED_KEYS: ecs.Secret.fromSecretsManager(input.edgeSharedKey) }),
    },
  };
}

export interface MigrationSettingsInput {
  config: DeployConfig;
  database: rds.DatabaseInstance;
  /** The RDS master user's secret: the schema's owner, who migrates and grants. */
  masterSecret: secretsmanager.ISecret;
  /** The origin role's secret, whose username and password the command gives that role. */
  appSecret: secretsmanager.ISecret;
}

/**
 * The `migrate` init container's settings (aws/origin/db/migrate-cli.ts): the same database, reached as the master
 * user; the origin role's name and password to create or update it with; and the audit retention, which is the
 * youngest age of an audit event that role may purge. No other secret: it runs no origin code.
 */
export function migrationSettings(input: MigrationSettingsInput): {
  environment: Record<string, string>;
  secrets: Record<string, ecs.Secret>;
} {
  return {
    environment: { ...databaseEnvironment(input.database), ...retentionSettings(input.config) },
    secrets: {
      PGUSER: ecs.Secret.fromSecretsManager(input.masterSecret, "username"),
      PGPASSWORD: ecs.Secret.fromSecretsManager(input.masterSecret, "password"),
      DATABASE_APP_USER: ecs.Secret.fromSecretsManager(input.appSecret, "username"),
      DATABASE_APP_PASSWORD: ecs.Secret.fromSecretsManager(input.appSecret, "password"),
    },
  };
}

/** Where the Dockerfile puts AWS's RDS CA bundle (its `ADD`; test/aws/dockerfile.test.ts checks the two agree). */
export const RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem";

/** Where the database is, for `pg` (the login comes separately: originSettings, migrationSettings). */
function databaseEnvironment(database: rds.DatabaseInstance): Record<string, string> {
  return {
    DATABASE_URL: "postgresql://",
    PGHOST: database.dbInstanceEndpointAddress,
    PGPORT: database.dbInstanceEndpointPort,
    PGDATABASE: DATABASE_NAME,
    PGSSLMODE: "verify-full",
    PGSSLROOTCERT: RDS_CA_BUNDLE,
  };
}

/** AUDIT_RETENTION_DAYS (contract/config/env-names.ts) when the deployment keeps audit events a limited time. */
function retentionSettings(config: DeployConfig): Record<string, string> {
  const days = config.origin.auditRetentionDays;
  return days === undefined ? {} : { AUDIT_RETENTION_DAYS: String(days) };
}

/**
 * The origin's KMS keys (names from contract/config/env-names.ts): checkpoints signed by KMS (`audit.checkpoints`),
 * and the vault's data keys wrapped by KMS (`upstreamVault`), every task with the same keys. Key ARNs are not secrets.
 */
function keySettings(keys: OriginSettingsInput["keys"]): Record<string, string> {
  return {
    AUDIT_CHECKPOINT_SIGNER: "kms",
    AUDIT_CHECKPOINT_KMS_KEY_ID: keys.auditCheckpoints.keyArn,
    AUDIT_CHECKPOINT_KMS_REGION: keys.auditCheckpoints.region,
    UPSTREAM_VAULT_KMS_KEY_ID: keys.upstreamVault.keyArn,
    UPSTREAM_VAULT_KMS_REGION: keys.upstreamVault.region,
  };
}

/** The origin's Google Workspace settings (names from contract/config/env-names.ts); none when groups come from the IdP. */
function googleSettings(config: DeployConfig): Record<string, string> {
  const google = config.origin.google;
  if (!google) return {};
  return {
    GOOGLE_WIF_AUDIENCE: google.audience,
    GOOGLE_SERVICE_ACCOUNT: google.serviceAccount,
    ...(google.adminUser && { GOOGLE_ADMIN_USER: google.adminUser }),
    GOOGLE_AWS_REGION: google.awsRegion ?? config.region,
    GOOGLE_GROUPS_CACHE_SECONDS: String(google.cacheSeconds),
    GOOGLE_CHECK_ACCOUNTS: String(google.checkAccounts),
  };
}

/**
 * `origin.tuning` (origin-tuning.ts), with the bound on stdio children sized to the task's memory unless it is set.
 * Its keys are none of the above, so spreading it last overrides nothing the stack sets.
 */
function tuningSettings(config: DeployConfig): Record<string, string> {
  const { tuning } = config.origin;
  const maxProcesses = tuning.stdio?.maxProcesses ?? derivedMaxProcesses(config.origin);
  return tuningEnvironment({ ...tuning, stdio: { ...tuning.stdio, maxProcesses } });
}
