import { EDGE_ENV_NAMES } from "../contract/config/env-names.ts";
import { loadConfig } from "../contract/config/load.ts";
import { type EdgeConfig as Config, EdgeConfig } from "../contract/config/schema.ts";
import type { EdgeEnv } from "./env.ts";

// Validated once per distinct set of values, not per request: the runtime does not promise the same
// `env` object on every request, but its values only change with a deployment.
const cache = new Map<string, Config>();
const MAX_CACHED = 4;
// In practice an isolate's requests share one `env` object: recognized first, without reading its values.
const byEnv = new WeakMap<EdgeEnv, Config>();

/** A Worker has no configuration file: its settings are variables and secrets. */
const WHERE_TO_SET = "in the Worker's [vars] (wrangler.toml) or as a secret (wrangler secret put)";

/** The edge configuration from the Worker's vars and secrets; throws ConfigError naming each wrong variable. */
export function edgeConfig(env: EdgeEnv): Config {
  const known = byEnv.get(env);
  if (known) return known;
  const fingerprint = JSON.stringify(Object.keys(EDGE_ENV_NAMES).map((name) => env[name] ?? null));
  let config = cache.get(fingerprint);
  if (!config) {
    config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env, whereToSet: WHERE_TO_SET });
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(fingerprint, config);
  }
  byEnv.set(env, config);
  return config;
}

/** The umbrella MCP resource: a token for it is good at every `/mcp/<server>` beneath it. */
export const mcpResource = (config: Config): string => `${config.publicUrl}/mcp`;

/** One upstream server as a protected resource of its own. */
export const serverResource = (config: Config, server: string): string => `${mcpResource(config)}/${server}`;
