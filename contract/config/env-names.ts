/**
 * The environment variable that overrides each configuration key (environment wins over the file),
 * and how its string value is read: `list` is comma-separated, `json` is a JSON document.
 */
export type EnvValueKind = "string" | "number" | "list" | "json";
export type EnvNames = Record<string, readonly [path: string, kind: EnvValueKind]>;

export const EDGE_ENV_NAMES = {
  PUBLIC_URL: ["publicUrl", "string"],
  EDGE_DISPLAY_NAME: ["displayName", "string"],
  ORIGIN_URL: ["originUrl", "string"],
  IDP_ISSUER: ["idp.issuer", "string"],
  IDP_CLIENT_ID: ["idp.clientId", "string"],
  IDP_CLIENT_SECRET: ["idp.clientSecret", "string"],
  IDP_SCOPES: ["idp.scopes", "list"],
  IDP_ALLOWED_DOMAINS: ["idp.allowedDomains", "list"],
  IDP_REQUEST_TIMEOUT_SECONDS: ["idp.requestTimeoutSeconds", "number"],
  SERVER_NAMES: ["servers", "list"],
  EDGE_SIGNING_KEY: ["signingKey", "string"],
  EDGE_SIGNING_KEY_ROTATION: ["signingKeyRotation", "string"],
  ANALYTICS_HASH_SECRET: ["analyticsHashSecret", "string"],
  ACCESS_TOKEN_TTL_SECONDS: ["accessTokenTtlSeconds", "number"],
  TOKEN_CACHE_SECONDS: ["tokenCacheSeconds", "number"],
  AUDIT_BATCH_MILLISECONDS: ["auditBatchMilliseconds", "number"],
  MCP_ALLOWED_ORIGINS: ["mcpAllowedOrigins", "list"],
  ORIGIN_ANSWER_TIMEOUT_SECONDS: ["originAnswerTimeoutSeconds", "number"],
  OAUTH_MAX_BODY_BYTES: ["oauth.maxBodyBytes", "number"],
  REFRESH_REUSE_GRACE_SECONDS: ["oauth.refreshReuseGraceSeconds", "number"],
  REGISTRATION_UNUSED_DAYS: ["oauth.registrationUnusedDays", "number"],
  RATE_LIMIT_TOKEN_PER_MINUTE: ["oauth.tokenRequestsPerMinute", "number"],
  RATE_LIMIT_AUTHORIZE_PER_MINUTE: ["oauth.authorizeRequestsPerMinute", "number"],
  RATE_LIMIT_REGISTER_PER_MINUTE: ["oauth.registrationsPerMinute", "number"],
  CIMD_ALLOWED_HOSTS: ["oauth.cimdAllowedHosts", "list"],
} as const satisfies EnvNames;

export const ORIGIN_ENV_NAMES = {
  HOST: ["host", "string"],
  PORT: ["port", "number"],
  ORIGIN_PUBLIC_URL: ["publicUrl", "string"],
  EDGE_ISSUER: ["edgeIssuer", "string"],
  EDGE_JWKS_URL: ["edgeJwksUrl", "string"],
  DATABASE_URL: ["databaseUrl", "string"],
  DATABASE_POOL_MAX: ["databasePoolMax", "number"],
  MCP_SERVERS: ["servers", "json"],
  STDIO_IDLE_TIMEOUT_SECONDS: ["stdio.idleTimeoutSeconds", "number"],
  STDIO_MAX_PROCESSES: ["stdio.maxProcesses", "number"],
  REQUEST_STATE_KEY: ["requestStateKey", "string"],
  RELAY_REQUEST_TIMEOUT_SECONDS: ["relay.requestTimeoutSeconds", "number"],
  RELAY_INPUT_WAIT_SECONDS: ["relay.inputWaitSeconds", "number"],
  RELAY_KEEPALIVE_SECONDS: ["relay.keepAliveSeconds", "number"],
  ORIGIN_INSTANCE_ID: ["instanceId", "string"],
  UPSTREAM_IDENTITY_SIGNING_KEY: ["upstreamIdentity.signingKey", "string"],
  UPSTREAM_IDENTITY_TTL_SECONDS: ["upstreamIdentity.ttlSeconds", "number"],
  AUDIT_RETENTION_DAYS: ["audit.retentionDays", "number"],
  METRICS_PORT: ["metrics.port", "number"],
} as const satisfies EnvNames;
