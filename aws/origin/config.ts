import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { parseConfigDocument } from "./config-file-json.ts";

/** The configuration file: MCP_PROXY_CONFIG if set, else `proxy.config.json` in the working directory when present. */
const DEFAULT_CONFIG_FILE = "proxy.config.json";

/** What a configuration file may hold at its top level: the origin's section (the edge takes Worker variables). */
const FILE_SECTIONS = ["origin"];

/** Loads the origin's configuration: defaults < file (its `origin` section) < environment. Throws ConfigError naming every wrong key. */
export function loadOriginConfig(env: NodeJS.ProcessEnv = process.env): OriginConfig {
  return loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env, file: readOriginFile(env) });
}

/**
 * The `origin` section of the configuration file, for the origin and for `npm start` alike; undefined when no file is
 * named and `proxy.config.json` is absent. A named file that is missing, not JSON, or holds anything but an `origin`
 * section is refused, so a typo never passes silently.
 */
export function readOriginFile(
  env: NodeJS.ProcessEnv,
): { path: string; file: string; content: Record<string, unknown> } | undefined {
  const named = env.MCP_PROXY_CONFIG || undefined;
  const path = resolve(named ?? DEFAULT_CONFIG_FILE);
  if (!named && !existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new ConfigError([`${path}: ${missing ? "file not found (MCP_PROXY_CONFIG)" : (error as Error).message}`]);
  }
  const document = parseConfigDocument(text, path);
  if (typeof document !== "object" || document === null || Array.isArray(document))
    throw new ConfigError([`${path}: expected an object with an "origin" section`]);
  const unknown = Object.keys(document).filter((key) => !FILE_SECTIONS.includes(key));
  if (unknown.length > 0)
    throw new ConfigError([`${path}: unknown top-level key ${unknown.map((key) => `"${key}"`).join(", ")}; expected "origin"`]);
  const section = (document as { origin?: unknown }).origin;
  if (typeof section !== "object" || section === null || Array.isArray(section))
    throw new ConfigError([`${path}: expected an "origin" section (an object)`]);
  return { path: `${path} (origin section)`, file: path, content: section as Record<string, unknown> };
}
