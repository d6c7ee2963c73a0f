import { ConfigError } from "../../../../contract/config/load.ts";
import { Policy } from "../../../../contract/config/policy.ts";
import { readOriginFile } from "../../config.ts";
import { fromOriginSection, PolicyFileError, type PolicySource, validated } from "./policy-file.ts";

const NO_POLICY: PolicySource = { label: "no policy (everything allowed)", policy: undefined, keyPrefix: "" };

/**
 * The policy the origin runs with, read as the origin reads it (the one reader of its configuration file: its
 * `origin` section, MCP_PROXY_CONFIG else proxy.config.json when present), then MCP_POLICY over it. Neither: no policy.
 */
export function deployedPolicy(env: NodeJS.ProcessEnv): PolicySource {
  const file = originFile(env);
  const fromFile = file ? fromOriginSection(file.content, file.file, { allowNoPolicy: true }) : NO_POLICY;
  const inEnvironment = env.MCP_POLICY;
  if (!inEnvironment) return fromFile;
  return { ...fromFile, label: "environment MCP_POLICY", policy: policyFromEnvironment(inEnvironment), keyPrefix: "" };
}

function originFile(env: NodeJS.ProcessEnv) {
  try {
    return readOriginFile(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new PolicyFileError(error.problems);
    throw error;
  }
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
