import { z } from "zod";
import { ORIGIN_ENV_NAMES } from "../../../contract/config/env-names.ts";
import { closestName } from "../../../contract/config/misspelled-names.ts";
import { OriginConfig } from "../../../contract/config/schema.ts";

/**
 * The origin's tunables a deployment may set (`origin.tuning`, docs/deploy.md "Tuning the origin"), laid out as in the
 * origin's own configuration and checked by the origin's own rules: each is OriginConfig's field without its default,
 * so an unset key reaches the task as nothing and the origin's default applies. Everything else the stack sets itself
 * (listen address, database, keys, secrets, servers, policy, retention, Google), so it is not here to be overridden.
 */
const origin = OriginConfig.shape;
const stdio = origin.stdio.unwrap().shape;
const relay = origin.relay.unwrap().shape;
const checkpoints = origin.audit.unwrap().shape.checkpoints.unwrap().shape;

const tunable = <T extends z.ZodType>(field: z.ZodDefault<T>) => field.removeDefault().optional();

/** Keys of the origin's configuration a deployment sets elsewhere in its file, for the refusal's hint. */
const SET_ELSEWHERE: Record<string, string> = {
  "audit.retentionDays": "origin.auditRetentionDays",
  "metrics.port": "origin.metricsPort",
  servers: "origin.servers",
  policy: "origin.policy",
  google: "origin.google",
};

/** The keys of the origin's configuration at `at` (`""`, `"stdio."`, `"audit.checkpoints."`). */
function originKeysAt(at: string): string[] {
  let shape: z.ZodRawShape = origin;
  for (const key of at.split(".").filter(Boolean)) {
    let field = shape[key] as z.ZodType;
    while ("unwrap" in field) field = (field as unknown as { unwrap: () => z.ZodType }).unwrap();
    shape = (field as z.ZodObject).shape;
  }
  return Object.keys(shape);
}

/**
 * Why an unknown key at `at` is refused: a key of the origin's configuration the stack sets (itself, or from another key
 * of the file), or no setting at all, with the tunable it is a typo of.
 */
function refusal(key: string, at: string, tunableKeys: string[]): string {
  const instead = SET_ELSEWHERE[`${at}${key}`];
  if (instead) return `set it as ${instead}`;
  if (originKeysAt(at).includes(key)) return `the stack sets it itself: docs/deploy.md, "Tuning the origin"`;
  const meant = closestName(key, tunableKeys);
  return meant ? `not a setting; did you mean ${meant}?` : "not a setting";
}

/**
 * A strict object whose refusal of an unknown key says where that setting goes instead, or that it is none, and which
 * keys it takes.
 */
const tunables = <S extends z.ZodRawShape>(shape: S, at = "") =>
  z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      const keys = issue.keys.map((key) => `"${key}" (${refusal(key, at, Object.keys(shape))})`);
      return `unknown key ${keys.join(", ")}; origin.tuning${at ? `.${at.slice(0, -1)}` : ""} takes only ${Object.keys(shape).join(", ")}`;
    },
  });

export const OriginTuning = tunables({
  databasePoolMax: tunable(origin.databasePoolMax),
  aggregate: tunables(
    { upstreamTimeoutSeconds: tunable(origin.aggregate.unwrap().shape.upstreamTimeoutSeconds) },
    "aggregate.",
  ).optional(),
  stdio: tunables(
    {
      idleTimeoutSeconds: tunable(stdio.idleTimeoutSeconds),
      maxProcesses: tunable(stdio.maxProcesses),
    },
    "stdio.",
  ).optional(),
  relay: tunables(
    {
      requestTimeoutSeconds: tunable(relay.requestTimeoutSeconds),
      connectTimeoutSeconds: tunable(relay.connectTimeoutSeconds),
      inputWaitSeconds: tunable(relay.inputWaitSeconds),
      keepAliveSeconds: tunable(relay.keepAliveSeconds),
      breakerFailures: tunable(relay.breakerFailures),
      breakerOpenSeconds: tunable(relay.breakerOpenSeconds),
      maxUpstreamMessageMiB: tunable(relay.maxUpstreamMessageMiB),
      listensPerUser: tunable(relay.listensPerUser),
    },
    "relay.",
  ).optional(),
  upstreamIdentity: tunables(
    { ttlSeconds: tunable(origin.upstreamIdentity.unwrap().shape.ttlSeconds) },
    "upstreamIdentity.",
  ).optional(),
  upstreamVault: tunables(
    { keyCacheSeconds: tunable(origin.upstreamVault.unwrap().shape.keyCacheSeconds) },
    "upstreamVault.",
  ).optional(),
  audit: tunables(
    {
      checkpoints: tunables(
        { everyRows: tunable(checkpoints.everyRows), everySeconds: tunable(checkpoints.everySeconds) },
        "audit.checkpoints.",
      ).optional(),
    },
    "audit.",
  ).optional(),
}).prefault({});
export type OriginTuning = z.infer<typeof OriginTuning>;

/**
 * The Unix users the image gives stdio children (STDIO_CHILD_UID_COUNT in the Dockerfile; test/aws/origin-tuning.test.ts
 * checks they agree). The origin refuses to start with more children allowed at once than users to run them as.
 */
export const IMAGE_STDIO_CHILD_UIDS = 10_000;

/**
 * Memory one task keeps for the origin itself, and the PSS of one per-user stdio child of a Node server (the top of
 * the measured 32-34 MiB): docs/scaling.md, "Size stdio.maxProcesses to the task's memory".
 */
const ORIGIN_OWN_MIB = 400;
const CHILD_PSS_MIB = 34;

/**
 * The bound on stdio children when the deployment leaves it unset and runs a per-user stdio server: as many as the
 * task's memory holds, (memoryMiB - 400) / 34, instead of the origin's default of 100 (which a 2 GiB task cannot
 * hold). Without such a server the origin's default stays: the same bound counts HTTP upstream connections, which
 * cost little memory. Undefined leaves the variable unset.
 */
export function derivedMaxProcesses(config: {
  memoryMiB: number;
  servers: Record<string, { transport: string; sharing?: string }>;
}): number | undefined {
  const perUserChildren = Object.values(config.servers).some(
    (server) => server.transport === "stdio" && server.sharing !== "shared",
  );
  return perUserChildren ? Math.floor((config.memoryMiB - ORIGIN_OWN_MIB) / CHILD_PSS_MIB) : undefined;
}

/** ORIGIN_ENV_NAMES turned around: the environment variable that sets each key path of the origin's configuration. */
const VARIABLE_OF_PATH = new Map<string, string>(Object.entries(ORIGIN_ENV_NAMES).map(([name, [path]]) => [path, name]));

/** The tuning as the origin container's environment: one variable per key set, named by contract/config/env-names.ts. */
export function tuningEnvironment(tuning: OriginTuning): Record<string, string> {
  return Object.fromEntries(setLeaves(tuning).map(([path, value]) => [variableOf(path), String(value)]));
}

function variableOf(path: string): string {
  const name = VARIABLE_OF_PATH.get(path);
  if (name === undefined)
    throw new Error(`origin.tuning.${path} has no environment variable: add one to contract/config/env-names.ts`);
  return name;
}

/** Every key set in a tree of tunables, by dotted path. */
function setLeaves(tree: object | undefined, prefix = ""): [string, unknown][] {
  return Object.entries(tree ?? {}).flatMap(([key, value]): [string, unknown][] => {
    if (value === undefined) return [];
    if (typeof value === "object" && value !== null) return setLeaves(value, `${prefix}${key}.`);
    return [[`${prefix}${key}`, value]];
  });
}
