import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Policy } from "../../../../contract/config/policy.ts";
import { fromOriginSection, PolicyFileError, type PolicySource, readJsonFile, validated } from "./policy-file.ts";

/** The file the origin reads when MCP_PROXY_CONFIG is unset (aws/origin/config.ts). */
const DEFAULT_CONFIG_FILE = "proxy.config.json";

const NO_POLICY: PolicySource = { label: "no policy (everything allowed)", policy: undefined, keyPrefix: "" };

/**
 * The policy the origin runs with, read as the origin reads it: the configuration file's `origin` section
 * (MCP_PROXY_CONFIG, else proxy.config.json when present), then MCP_POLICY over it. Neither: no policy.
 */
export function deployedPolicy(env: NodeJS.ProcessEnv): PolicySource {
  const explicit = env.MCP_PROXY_CONFIG;
  const path = resolve(explicit ?? DEFAULT_CONFIG_FILE);
  const fromFile = explicit || existsSync(path) ? originSection(path) : NO_POLICY;
  const inEnvironment = env.MCP_POLICY;
  if (!inEnvironment) return fromFile;
  return { ...fromFile, label: "environment MCP_POLICY", policy: policyFromEnvironment(inEnvironment), keyPrefix: "" };
}

function originSection(path: string): PolicySource {
  const document = readJsonFile(path) as { origin?: unknown } | null;
  const origin = document?.origin;
  if (typeof origin !== "object" || origin === null || Array.isArray(origin)) {
    throw new PolicyFileError([`${path}: expected an "origin" section (MCP_PROXY_CONFIG names the origin's configuration file)`]);
  }
  return fromOriginSection(origin as Record<string, unknown>, path, { allowNoPolicy: true });
}

function policyFromEnvironment(text: string): Policy {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PolicyFileError([`environment MCP_POLICY: not JSON (${(error as Error).message})`]);
  }
  return validated(Policy, value, "environment MCP_POLICY", "");
}
