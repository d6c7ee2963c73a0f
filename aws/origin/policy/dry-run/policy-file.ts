import { readFileSync } from "node:fs";
import type { z } from "zod";
import { Policy } from "../../../../contract/config/policy.ts";
import { OriginConfig } from "../../../../contract/config/schema.ts";
import type { GoogleConfig } from "../../identity/google/federated-client.ts";
import { policyProblems } from "../check-policy.ts";

/** A policy as the dry run read it, with what its file says about the origin besides. */
export interface PolicySource {
  /** Where it came from, for the report: a file, the environment, or "no policy". */
  label: string;
  /** Absent: no policy, so every signed-in user may use everything. */
  policy: Policy | undefined;
  /** How the file spells the policy's key, before `rules`: "" in a policy file, `origin.policy.` in a configuration. */
  keyPrefix: string;
  /** The configured servers' names, when the file is an origin configuration. */
  servers?: string[];
  /** The origin's Google Workspace look-up, when the file is an origin configuration that has one. */
  google?: GoogleConfig;
}

/** A policy or configuration file that cannot be used, with one line per problem, each naming the file and key. */
export class PolicyFileError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n  "));
    this.name = "PolicyFileError";
    this.problems = problems;
  }
}

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new PolicyFileError([`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PolicyFileError([`${path}: not JSON (${(error as Error).message})`]);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A policy file (`{ "rules": [...] }`) or an origin configuration file (`{ "origin": { "policy": ... } }`), checked
 * with the origin's own schema. A configuration without `origin.policy` stands for "no policy" only when
 * `allowNoPolicy` (the current policy may be none; a candidate may not).
 */
export function readPolicyFile(path: string, options: { allowNoPolicy: boolean }): PolicySource {
  const document = readJsonFile(path);
  if (isObject(document) && "rules" in document)
    return { label: path, policy: validated(Policy, document, path, ""), keyPrefix: "" };
  if (!isObject(document) || !isObject(document.origin)) {
    throw new PolicyFileError([
      `${path}: expected a policy ({ "rules": [...] }) or an origin configuration file ({ "origin": { "policy": ... } })`,
    ]);
  }
  return fromOriginSection(document.origin, path, options);
}

/** The parts of an origin configuration the dry run reads: its policy, its servers' names, its Google look-up. */
export function fromOriginSection(
  origin: Record<string, unknown>,
  path: string,
  options: { allowNoPolicy: boolean },
): PolicySource {
  if (origin.policy === undefined && !options.allowNoPolicy) {
    throw new PolicyFileError([`${path}: origin.policy: expected the candidate policy here; it is missing`]);
  }
  const policy = origin.policy === undefined ? undefined : validated(Policy, origin.policy, path, "origin.policy.");
  const google =
    origin.google === undefined ? undefined : validated(OriginConfig.shape.google, origin.google, path, "origin.google.");
  const servers = isObject(origin.servers) ? Object.keys(origin.servers) : undefined;
  const label = policy ? path : `${path} (no origin.policy: everything allowed)`;
  return { label, policy, keyPrefix: "origin.policy.", servers, google };
}

/** The value checked with the origin's schema; each problem names where it is and its key. */
export function validated<S extends z.ZodType>(schema: S, value: unknown, where: string, prefix: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new PolicyFileError(
    result.error.issues.map(
      (issue) => `${where}: ${`${prefix}${issue.path.join(".")}`.replace(/\.$/, "") || "(top level)"}: ${issue.message}`,
    ),
  );
}

/**
 * What the origin would refuse to start with: server patterns that match no configured server. Checked only when a
 * configuration names the servers; the keys are named as the file spells them.
 */
export function checkServerPatterns(source: PolicySource, servers: readonly string[] | undefined): void {
  if (!servers) return;
  const problems = policyProblems(source.policy, servers).map(
    (problem) => `${source.label}: ${problem.replace(/^policy\./, source.keyPrefix)}`,
  );
  if (problems.length > 0) throw new PolicyFileError(problems);
}
