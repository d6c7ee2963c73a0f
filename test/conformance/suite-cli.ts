import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The installed suite's own entry point, run with this Node (the suite needs Node 22 or newer, as this file does). */
function suiteEntry(): string {
  const manifestPath = createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { bin: Record<string, string> };
  const bin = manifest.bin.conformance;
  if (!bin) throw new Error(`${manifestPath} names no "conformance" bin`);
  return join(dirname(manifestPath), bin);
}

export interface SuiteRun {
  exitCode: number | null;
  output: string;
  timedOut: boolean;
}

/** Runs `conformance <args>` as a child process; stdout and stderr come back interleaved, as a person would read them. */
export function runSuite(args: string[], killAfterMs: number): Promise<SuiteRun> {
  const child = spawn(process.execPath, [suiteEntry(), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString("utf8");
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, killAfterMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode, output, timedOut });
    });
  });
}

/**
 * The server scenarios a revision scores, in the suite's order, as `conformance list --requirements` prints them.
 * Everything else a requirement set runs (extensions, pending, added after release) is reported but never scored.
 */
export async function scoredServerScenarios(requirements: string): Promise<string[]> {
  const listing = await runSuite(["list", "--requirements", requirements], 30_000);
  if (listing.exitCode !== 0) throw new Error(`conformance list --requirements ${requirements} failed:\n${listing.output}`);
  const section = listing.output.split(/^Server scenarios.*$/m)[1]?.split(/^\S.*$/m)[0];
  const scenarios = [...(section ?? "").matchAll(/^\s+- (\S+)\s*$/gm)].map((match) => match[1] as string);
  if (scenarios.length === 0) throw new Error(`no server scenarios found in:\n${listing.output}`);
  return scenarios;
}
