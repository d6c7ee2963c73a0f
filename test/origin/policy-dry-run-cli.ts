import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../aws/origin/policy/cli.ts", import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A directory of its own for a test's files; the CLI runs in it, so no proxy.config.json of the repository is read. */
export const workDir = () => mkdtempSync(join(tmpdir(), "policy-dry-run-"));

/** Writes a JSON file into the directory and answers its path. */
export function jsonFile(dir: string, name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/**
 * `npm run policy` in a child process (asynchronously: the embedded database answers from this process), with none
 * of the origin's configuration in its environment unless a test gives it.
 */
export function policyCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  const { MCP_POLICY: _policy, MCP_PROXY_CONFIG: _config, ...inherited } = process.env;
  const env = { ...inherited, DATABASE_URL: "", ...options.env };
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, cwd: options.cwd }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}
