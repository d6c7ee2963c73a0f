import { z } from "zod";
import { Policy } from "../../../contract/config/policy.ts";
import {
  childUsersPerChild,
  OriginConfig,
  ServerName,
  ServiceUrl,
  sharedAudienceProblems,
  TWO_USERS_PER_GOOGLE_CHILD,
  UpstreamServer,
} from "../../../contract/config/schema.ts";
import { guardrailProblems } from "../../origin/guardrails/chain.ts";
import { policyProblems } from "../../origin/policy/check-policy.ts";
import { isOriginOwn } from "../../origin/secrets/env/env-secrets.ts";
import { ORIGIN_OWN_NAME as OWN_NAME_REASON, secretReferences } from "../../origin/secrets/secret-references.ts";
import { ORIGIN_PORT } from "../service/origin-container.ts";
import { literalCredentials } from "./literal-credentials.ts";
import { IMAGE_STDIO_CHILD_UIDS, OriginTuning } from "./origin-tuning.ts";

/**
 * What a company decides when it deploys the AWS tier: one JSON file (see deploy.config.example.json), validated
 * before anything is synthesized. Every key is explained here; docs/deploy.md walks through them.
 */

const Network = z
  .strictObject({
    /** Use this existing VPC (looked up by id at synth, with AWS credentials) instead of creating one. */
    existingVpcId: z
      .string()
      .regex(/^vpc-[0-9a-f]{8,17}$/, "expected a VPC id such as vpc-0123456789abcdef0")
      .optional(),
    /** Address range of a new VPC (ignored with existingVpcId). */
    cidr: z.string().default("10.60.0.0/16"),
    /** Availability zones of a new VPC; the ALB and RDS Multi-AZ need at least two. */
    maxAzs: z.number().int().min(2).max(4).default(2),
    /**
     * Their names; by default the region's first ones (`<region>a`, `<region>b`, …), which keeps synth offline.
     * Name them if one of those is not offered to your account: two or more distinct ones, as maxAzs (which they
     * replace). One zone would synthesize, then fail the deployment part-way, at the database's subnet group.
     */
    availabilityZones: z
      .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, "expected a zone such as eu-west-1a"))
      .min(2, "expected at least two zones: the ALB and RDS Multi-AZ need subnets in two")
      .refine((zones) => new Set(zones).size === zones.length, "expected distinct zones: one is named twice")
      .optional(),
    /** NAT gateways of a new VPC: 1 is cheaper, one per zone survives the loss of a zone. */
    natGateways: z.number().int().min(1).max(4).default(1),
  })
  .prefault({});

const Database = z
  .strictObject({
    /** RDS instance class without the `db.` prefix. 200 users fit on t4g.small (audit writes are small batches). */
    instanceType: z
      .string()
      .regex(/^[a-z0-9]+\.[a-z0-9]+$/, "expected an instance type such as t4g.small")
      .default("t4g.small"),
    /** A standby in a second zone with automatic failover (doubles the instance cost). */
    multiAz: z.boolean().default(true),
    /** Storage at creation, in GiB; it grows automatically up to maxAllocatedStorageGiB. */
    allocatedStorageGiB: z.number().int().min(20).default(20),
    maxAllocatedStorageGiB: z.number().int().min(20).default(100),
    /** Days of automated backups (point-in-time restore window). */
    backupRetentionDays: z.number().int().min(1).max(35).default(14),
    /**
     * When Secrets Manager rotates both database passwords: a cron expression in UTC, in Secrets Manager's syntax
     * (`cron(minute hour day-of-month month day-of-week year)`), that opens a two-hour window at one minute and hour.
     * Running origin tasks need no redeploy (they read their password from its secret when they connect), so the hour
     * matters less than it did: a task starting during a rotation may fail once and be replaced; prefer an hour without
     * deploys. Unset (and without credentialRotationDays): `cron(0 4 ? * SUN#1 *)`, the first Sunday of each month,
     * 04:00 to 06:00 UTC.
     */
    credentialRotationSchedule: z
      .string()
      .regex(
        /^cron\(([0-9]|[1-5][0-9]) ([0-9]|1[0-9]|2[01]) \S+ \S+ \S+ \S+\)$/,
        "expected cron(<minute> <hour 0-21> <day-of-month> <month> <day-of-week> <year>) in UTC, such as cron(0 4 ? * SUN#1 *): one start a day at most, whose two-hour window ends before midnight",
      )
      .optional(),
    /**
     * Instead of credentialRotationSchedule: both passwords rotate every this many days, in the two hours from 00:00 UTC
     * (where Secrets Manager opens the window of an interval), whatever the hour means where your users are.
     */
    credentialRotationDays: z.number().int().min(1).max(365).optional(),
  })
  .prefault({})
  .refine((database) => database.credentialRotationSchedule === undefined || database.credentialRotationDays === undefined, {
    path: ["credentialRotationDays"],
    message: "expected credentialRotationDays or credentialRotationSchedule, not both: remove one",
  });

/**
 * An existing KMS key, named by its ARN: not an alias, because the task role's IAM policy must name the key itself
 * (KMS authorizes a call against the key's ARN, whatever name the caller used).
 */
const KmsKeyArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/,
    "expected a KMS key ARN such as arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab (the key's ARN, not an alias or a bare key id)",
  );

/**
 * The origin's `google` block as a deployment sets it. The task's environment has no variable for the per-call
 * timeout, and the endpoints exist only to point the origin at local stand-ins: both are refused, not dropped.
 */
const Google = OriginConfig.shape.google
  .unwrap()
  .omit({ requestTimeoutSeconds: true, endpoints: true })
  .extend({
    requestTimeoutSeconds: z
      .never({
        error:
          "cannot be set in a CDK deployment (the origin's environment has no variable for it; its default of 10 s applies): remove it",
      })
      .optional(),
    endpoints: z
      .never({
        error: "points the origin at local stand-ins of Google's APIs, for tests only; a deployment uses Google's own: remove it",
      })
      .optional(),
  })
  .optional();

/** Why a credential may not have a name isOriginOwn gives, and what to do instead. */
/** The deploy file names its credentials in origin.upstreamSecrets too. */
const ORIGIN_OWN_NAME = `${OWN_NAME_REASON} in origin.upstreamSecrets and in the server's { "secret": … }`;

/**
 * A credential's name as servers give it (`{ "secret": "GITHUB_TOKEN" }`): the same name a local run reads from its
 * environment, so one `servers` block serves both. Secrets Manager takes it as the last part of the secret's name.
 * So a name the local run never hands to an upstream (the origin's own settings, DATABASE_URL, AWS_*, …) is refused
 * here too, although Secrets Manager would serve it: the same block would fail every call under `npm start`.
 */
const UpstreamSecretName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, "_" or "-", such as GITHUB_TOKEN or tickets-api-key')
  .refine((name) => !isOriginOwn(name), { error: (issue) => `"${String(issue.input)}" ${ORIGIN_OWN_NAME}` });

const OriginKeys = z.strictObject({
  /** The origin's host name: the edge's ORIGIN_URL is https://<hostname>. Its DNS record points at the load balancer. */
  hostname: z
    .string()
    .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/, "expected a host name such as origin.example.com"),
  /**
   * An existing ACM certificate for `hostname`, in the stack's region. Without it the stack requests one, validated
   * by DNS: in `route53Zone` if given, otherwise you add the validation record where your DNS lives (docs/deploy.md).
   */
  certificateArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, "expected an ACM certificate ARN")
    .optional(),
  /** A Route 53 public zone holding `hostname`: the stack validates the certificate there and adds an alias to the ALB. */
  route53Zone: z.strictObject({ hostedZoneId: z.string().min(1), zoneName: z.string().min(1) }).optional(),
  /** The edge's public URL (its PUBLIC_URL), e.g. https://mcp.example.com: the issuer of every assertion the origin accepts. */
  edgePublicUrl: ServiceUrl,
  /**
   * How the edge signs its assertions (docs/edge-assertion.md#keys): `ec` (the default), the origin fetching the edge's
   * public key; or `shared`, an HMAC key made in Secrets Manager (`<name>/origin/edge-shared-key`) that the tasks get as
   * EDGE_ASSERTION_SHARED_KEYS and the operator copies into the edge's EDGE_SIGNING_KEY.
   */
  edgeKey: z.enum(["ec", "shared"]).default("ec"),
  /**
   * The upstream MCP servers, exactly as the origin's `servers` (docs/configuration.md). The tasks get them whole as
   * MCP_SERVERS, a plain variable: a credential is a `{ "secret": … }` named in upstreamSecrets, and one written here
   * as a plain value is refused (literal-credentials.ts).
   */
  servers: z.record(ServerName, UpstreamServer).default({}),
  /** Who may use which servers and tools, exactly as the origin's `policy` (docs/policy.md); the tasks get it as MCP_POLICY. */
  policy: Policy.optional(),
  /**
   * Google Workspace groups through Workload Identity Federation, as the origin's `google` (docs/google-workspace.md):
   * the tasks get GOOGLE_WIF_AUDIENCE, GOOGLE_SERVICE_ACCOUNT, GOOGLE_ADMIN_USER, GOOGLE_AWS_REGION (the stack's region
   * unless given), GOOGLE_GROUPS_CACHE_SECONDS and GOOGLE_CHECK_ACCOUNTS. The task role is the AWS identity the workload
   * identity pool trusts. `requestTimeoutSeconds` and `endpoints` are refused (see Google above).
   */
  google: Google,
  /**
   * An existing asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY) that signs the audit trail's
   * checkpoints (docs/audit.md), instead of the one the data stack creates (`alias/<name>-audit-checkpoints`). The task
   * role gets kms:Sign and kms:GetPublicKey on it; its key policy must let IAM policies of this account grant that.
   * The origin checks its spec when it first signs (a failed checkpoint in its log names a wrong one).
   */
  auditCheckpointKeyArn: KmsKeyArn.optional(),
  /**
   * An existing symmetric KMS key (SYMMETRIC_DEFAULT) that wraps the data keys of the vault of users' upstream OAuth
   * tokens (docs/upstream-credentials.md), instead of the one the data stack creates (`alias/<name>-upstream-vault`).
   * The task role gets kms:GenerateDataKey and kms:Decrypt on it, for the vault's encryption context only. Changing it
   * on a running deployment makes every stored token unreadable: users consent again.
   */
  upstreamVaultKeyArn: KmsKeyArn.optional(),
  /**
   * Days audit events are kept, exactly as the origin's `audit.retentionDays` (docs/audit.md); unset keeps them
   * forever. The tasks get it as AUDIT_RETENTION_DAYS, and so does the migrate init container, which makes it the
   * youngest age of an event the origin's database role may purge at all (docs/deploy.md, "Database roles").
   */
  auditRetentionDays: z.number().int().min(1).max(36_500).optional(),
  /** Names of upstream credentials to create in Secrets Manager (`<name>/upstream/<secret>`); the task role may read exactly these. */
  upstreamSecrets: z.array(UpstreamSecretName).default([]),
  /** Fargate size of one task: vCPU units (1024 = 1 vCPU) and memory in MiB; stdio children share them. */
  cpu: z.union([z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]).default(1024),
  memoryMiB: z.number().int().min(1024).max(30_720).default(2048),
  /** x86_64 builds anywhere; arm64 is about 20% cheaper but needs an arm64 (or emulating) Docker builder. */
  architecture: z.enum(["x86_64", "arm64"]).default("x86_64"),
  /** Task count bounds: at least two so that losing one costs its users one clean error, not an outage. */
  minTasks: z.number().int().min(2).default(2),
  maxTasks: z.number().int().min(2).default(6),
  /** Autoscaling targets: average CPU, and requests per task per minute. */
  cpuTargetPercent: z.number().int().min(10).max(90).default(60),
  requestsPerTaskPerMinute: z.number().int().min(10).default(1200),
  /**
   * A second port on each task serving only `/metrics` without an edge assertion, for a Prometheus inside the VPC
   * (docs/metrics.md). Open to the VPC's own address range only, never through the load balancer. Unset: no port.
   */
  metricsPort: z
    .number()
    .int()
    .min(1024)
    .max(65_535)
    .refine((port) => port !== ORIGIN_PORT, `expected a port other than the origin's own ${ORIGIN_PORT}`)
    .optional(),
  /**
   * The origin's tunables (origin-tuning.ts), as in its own configuration: `databasePoolMax`, `aggregate`, `stdio`
   * (`idleTimeoutSeconds`, `maxProcesses`), `relay`, `upstreamIdentity.ttlSeconds`, `upstreamVault.keyCacheSeconds`,
   * `audit.checkpoints` (`everyRows`, `everySeconds`). Unset keys keep the origin's defaults, except
   * `stdio.maxProcesses` with a per-user stdio server: (memoryMiB - 400) / 34, what the task's memory holds.
   */
  tuning: OriginTuning,
  /** Days the origin's logs are kept in CloudWatch. */
  logRetentionDays: z
    .union([z.literal(7), z.literal(14), z.literal(30), z.literal(90), z.literal(180), z.literal(365), z.literal(731)])
    .default(90),
});

/** The origin's section, with the checks the origin makes of its servers when it starts. */
const Origin = OriginKeys.superRefine((origin, context) => {
  // The origin refuses to start on these (OriginConfig, startOrigin): every task would fail after the deployment.
  // sharedAudienceProblems reads only the servers, and names keys under `servers` as this object has them.
  sharedAudienceProblems({ servers: origin.servers } as OriginConfig, context);
  for (const problem of [...policyProblems(origin.policy, Object.keys(origin.servers)), ...guardrailProblems(origin.servers)]) {
    // Each line is "<key>: <what is wrong>", the key as this object has it.
    const [key = "", message = problem] = problem.split(": ", 2);
    context.addIssue({ code: "custom", path: key.split("."), message: problem.slice(key.length + 2) || message });
  }
});

const Alarms = z
  .strictObject({
    /** Where alarm notifications go (an e-mail subscription to the SNS topic, confirmed from the first message). */
    email: z.email().optional(),
    /** Share of requests answered 5xx, in percent over 5 minutes, that raises the alarm. */
    serverErrorPercent: z.number().min(0.1).max(100).default(5),
  })
  .prefault({});

const Cloudflare = z
  .strictObject({
    /**
     * With these set, a small function reads the audit queues' metrics from Cloudflare's GraphQL API every five
     * minutes (token in the `<name>/cloudflare-analytics-token` secret) for the ingest-lag graph and the
     * dead-letter alarm. Without them those two stay empty.
     */
    accountId: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "expected a 32-character Cloudflare account id")
      .optional(),
    auditQueueId: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "expected a queue id (wrangler queues info mcp-audit)")
      .optional(),
    deadLetterQueueId: z
      .string()
      .regex(/^[0-9a-f]{32}$/, "expected a queue id (wrangler queues info mcp-audit-dead-letter)")
      .optional(),
  })
  .prefault({});

/** The memory range Fargate allows for each cpu size, in MiB. */
const FARGATE_MEMORY_MIB: Record<512 | 1024 | 2048 | 4096, [number, number]> = {
  512: [1024, 4096],
  1024: [2048, 8192],
  2048: [4096, 16_384],
  4096: [8192, 30_720],
};

export const DeployConfig = z
  .strictObject({
    /** The AWS account and region, explicit so that a synth is reproducible and needs no credentials. */
    account: z.string().regex(/^\d{12}$/, "expected a 12-digit AWS account id"),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "expected a region such as eu-west-1"),
    /** Prefix of stack and resource names, so two deployments (e.g. staging) can share an account. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,24}$/, "expected 2-25 lowercase letters, digits or dashes")
      .default("mcp-edge-proxy"),
    network: Network,
    database: Database,
    origin: Origin,
    alarms: Alarms,
    cloudflare: Cloudflare,
  })
  .refine((config) => config.origin.maxTasks >= config.origin.minTasks, {
    path: ["origin", "maxTasks"],
    message: "expected maxTasks >= minTasks",
  })
  .refine(
    (config) => {
      const [least, most] = FARGATE_MEMORY_MIB[config.origin.cpu];
      return config.origin.memoryMiB >= least && config.origin.memoryMiB <= most;
    },
    {
      path: ["origin", "memoryMiB"],
      message:
        "expected a memory size Fargate offers for this cpu (512: 1024-4096, 1024: 2048-8192, 2048: 4096-16384, 4096: 8192-30720)",
    },
  )
  .refine((config) => config.database.maxAllocatedStorageGiB >= config.database.allocatedStorageGiB, {
    path: ["database", "maxAllocatedStorageGiB"],
    message: "expected maxAllocatedStorageGiB >= allocatedStorageGiB",
  })
  .refine((config) => !config.origin.route53Zone || config.origin.hostname.endsWith(`.${config.origin.route53Zone.zoneName}`), {
    path: ["origin", "route53Zone", "zoneName"],
    message: "expected the zone that holds origin.hostname",
  })
  .refine(
    (config) =>
      config.origin.auditCheckpointKeyArn === undefined ||
      config.origin.auditCheckpointKeyArn !== config.origin.upstreamVaultKeyArn,
    {
      path: ["origin", "upstreamVaultKeyArn"],
      message:
        "expected a key other than auditCheckpointKeyArn: checkpoints need an asymmetric signing key (ECC_NIST_P256), the vault a symmetric one (SYMMETRIC_DEFAULT)",
    },
  )
  .refine(
    (config) => {
      const { accountId, auditQueueId, deadLetterQueueId } = config.cloudflare;
      const set = [accountId, auditQueueId, deadLetterQueueId].filter(Boolean).length;
      return set === 0 || set === 3;
    },
    { path: ["cloudflare"], message: "expected accountId, auditQueueId and deadLetterQueueId together, or none of them" },
  )
  .superRefine((config, context) => {
    // A reference to a secret the stack does not create fails only when a user calls that server: say it now.
    const created = new Set(config.origin.upstreamSecrets);
    for (const { path, name } of secretReferences(config.origin.servers)) {
      if (created.has(name) && !isOriginOwn(name)) continue;
      context.addIssue({
        code: "custom",
        path: ["origin", "servers", ...path],
        message: isOriginOwn(name)
          ? `names the secret "${name}", which ${ORIGIN_OWN_NAME}`
          : `names the secret "${name}", which origin.upstreamSecrets does not create (the task role may read only those): add "${name}" there`,
      });
    }
  })
  .superRefine((config, context) => {
    for (const { path, message } of literalCredentials(config.origin.servers))
      context.addIssue({ code: "custom", path: ["origin", "servers", ...path], message });
  })
  .superRefine((config, context) => {
    // A server's Google token comes through origin.google's federation: without it the origin refuses to start
    // (OriginConfig in contract/config/schema.ts), after the deployment.
    if (config.origin.google) return;
    for (const [name, server] of Object.entries(config.origin.servers)) {
      if (!server.googleCredentials) continue;
      context.addIssue({
        code: "custom",
        path: ["origin", "servers", name, "googleCredentials"],
        message: `server "${name}" has googleCredentials, whose tokens the origin makes through Workload Identity Federation and the service account of origin.google: set origin.google (docs/google-workspace.md), or the origin refuses to start`,
      });
    }
  })
  .superRefine((config, context) => {
    const maxProcesses = config.origin.tuning.stdio?.maxProcesses;
    if (maxProcesses === undefined) return;
    const usersPerChild = childUsersPerChild(config.origin.servers);
    const most = Math.floor(IMAGE_STDIO_CHILD_UIDS / usersPerChild);
    if (maxProcesses <= most) return;
    context.addIssue({
      code: "custom",
      path: ["origin", "tuning", "stdio", "maxProcesses"],
      message:
        `expected at most ${most}: the image has ${IMAGE_STDIO_CHILD_UIDS} Unix users for stdio children (STDIO_CHILD_UID_COUNT in the Dockerfile)` +
        (usersPerChild === 2 ? `, and ${TWO_USERS_PER_GOOGLE_CHILD}` : ""),
    });
  });
export type DeployConfig = z.infer<typeof DeployConfig>;
