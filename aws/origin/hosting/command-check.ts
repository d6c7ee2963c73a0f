import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { UpstreamServer } from "../../../contract/config/schema.ts";

/**
 * One line for each stdio server whose command is not where its children would look for it (PATH, or the path it
 * names, from its `cwd`): said at start, where the first user's call would otherwise be the first to find out, with
 * the server's circuit opening on it. Only said: the command may be installed after the start (it is found at each spawn).
 */
export function missingCommands(servers: Record<string, UpstreamServer>, path = process.env.PATH ?? ""): string[] {
  const lines: string[] = [];
  for (const [name, spec] of Object.entries(servers)) {
    if (spec.transport !== "stdio") continue;
    const own = spec.env.PATH;
    if (isRunnable(spec.command, spec.cwd, typeof own === "string" ? own : path)) continue;
    const where = spec.command.includes("/") ? `at ${resolve(spec.cwd ?? ".", spec.command)}` : "on the children's PATH";
    lines.push(
      `server "${name}": its command "${spec.command}" is not found ${where}; its calls fail until it is installed there (or \`command\` names where it is)`,
    );
  }
  return lines;
}

/** Whether `command` resolves to an executable file as a child started in `cwd` with `path` would resolve it. */
function isRunnable(command: string, cwd: string | undefined, path: string): boolean {
  if (command.includes("/")) return isExecutable(resolve(cwd ?? ".", command));
  return path
    .split(delimiter)
    .filter((directory) => directory !== "")
    .some((directory) => isExecutable(join(directory, command)));
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
