import { ORIGIN_ENV_NAMES } from "../contract/config/env-names.ts";

/** What npm start reads of the origin's variables itself: the rest would be read by an origin it does not run so. */
const READ_BY_NPM_START = new Set(["DATABASE_URL"]);

/**
 * The origin's settings set in npm start's environment, which it does not pass on (the origins it starts read the
 * configuration file only): named, so that `MCP_POLICY=… npm start` is not taken for a run under that policy.
 */
export function ignoredOriginVariables(env: Record<string, string | undefined>): string[] {
  return Object.keys(ORIGIN_ENV_NAMES).filter(
    (name) => !READ_BY_NPM_START.has(name) && env[name] !== undefined && env[name] !== "",
  );
}

/** The line npm start prints about them; undefined when there are none. */
export function ignoredVariablesLine(names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  return `npm start ignores ${names.join(", ")} in its environment: put ${names.length > 1 ? "these settings" : "this setting"} in the configuration file's "origin" section (MCP_PROXY_CONFIG, or proxy.config.json) instead`;
}
