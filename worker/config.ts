import { EDGE_ENV_NAMES } from "../contract/config/env-names.ts";
import { loadConfig } from "../contract/config/load.ts";
import { type EdgeConfig as Config, EdgeConfig } from "../contract/config/schema.ts";
import type { EdgeEnv } from "./env.ts";

// A Worker's env is fixed for the life of an isolate, so its configuration is validated once per env object.
const cache = new WeakMap<object, Config>();

/** The edge configuration from the Worker's vars and secrets; throws ConfigError naming each wrong variable. */
export function edgeConfig(env: EdgeEnv): Config {
  let config = cache.get(env);
  if (!config) {
    config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
    cache.set(env, config);
  }
  return config;
}

/** The umbrella MCP resource: a token for it is good at every `/mcp/<server>` beneath it. */
export const mcpResource = (config: Config): string => `${config.publicUrl}/mcp`;

/** One upstream server as a protected resource of its own. */
export const serverResource = (config: Config, server: string): string => `${mcpResource(config)}/${server}`;
