import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";

/** The configuration file: MCP_PROXY_CONFIG if set, else `proxy.config.json` in the working directory when present. */
const DEFAULT_CONFIG_FILE = "proxy.config.json";

/** Loads the origin's configuration: defaults < file (its `origin` section) < environment. Throws ConfigError naming every wrong key. */
export function loadOriginConfig(env: NodeJS.ProcessEnv = process.env): OriginConfig {
  const explicit = env.MCP_PROXY_CONFIG;
  const path = resolve(explicit ?? DEFAULT_CONFIG_FILE);
  if (!explicit && !existsSync(path)) return loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env });
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError([
      `${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "file not found (MCP_PROXY_CONFIG)" : (error as Error).message}`,
    ]);
  }
  const section = (document as { origin?: unknown } | null)?.origin;
  if (section === undefined) throw new ConfigError([`${path}: expected an "origin" section`]);
  return loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env, file: { path: `${path} (origin section)`, content: section } });
}
