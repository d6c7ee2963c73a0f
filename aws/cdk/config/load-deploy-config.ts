import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, configErrorMap } from "../../../contract/config/load.ts";
import { parseConfigDocument } from "../../origin/config-file-json.ts";
import { DeployConfig } from "./deploy-config.ts";

/** The example in the repository: what `npm run cdk:synth` uses when no configuration file is named. */
export const EXAMPLE_DEPLOY_CONFIG = new URL("../deploy.config.example.json", import.meta.url).pathname;

/** Reads and validates a deployment configuration file; throws ConfigError with one line per wrong key. */
export function loadDeployConfig(path: string): DeployConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new ConfigError([
      `${file}: ${missing ? "file not found; copy aws/cdk/deploy.config.example.json and name it with MCP_DEPLOY_CONFIG" : (error as Error).message}`,
    ]);
  }
  // As the origin reads its own file: a key written twice is refused, where JSON.parse would keep the last (a server
  // never deployed), and an error names a line, never quoting the text (servers' settings).
  const document = parseConfigDocument(text, file);
  return parseDeployConfig(document, file);
}

/** Validates a deployment configuration already read. */
export function parseDeployConfig(document: unknown, where: string): DeployConfig {
  const result = DeployConfig.safeParse(document, { error: configErrorMap });
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => `${where}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`),
  );
}
