import { type ParseArgsConfig, parseArgs } from "node:util";

/*
 * Mistakes in the command line (or the environment) of the operators' commands: `npm run audit`, `policy`, `pins`,
 * `upstream-connections` and the migrate command. Each says one the same way: its name, the reason, a blank line and
 * its usage, on stderr, with exit code 2.
 */

/** A mistake in a command's arguments (or its environment): the command exits 2 with the message and its usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The exit code of a command given arguments it cannot use. */
export const USAGE_EXIT_CODE = 2;

/**
 * Says a usage error as every command does, `program: reason`, a blank line and the usage (through `print`, stderr by
 * default), and answers the exit code to end with.
 */
export function reportUsageError(
  program: string,
  usage: string,
  error: Error,
  print: (text: string) => void = console.error,
): typeof USAGE_EXIT_CODE {
  print(`${program}: ${error.message}\n\n${usage}`);
  return USAGE_EXIT_CODE;
}

/** The command line as parseArgs reads it, its own errors (unknown option, missing value) turned into usage errors. */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Words a command does not take, after the ones it does (`after`): a mistake (a value missing its option, an unquoted
 * name) that would otherwise be ignored, and a command that ignores part of its arguments may do more than meant.
 */
export function unexpectedArguments(extra: readonly string[], after: string): UsageError {
  const words = extra.map((word) => `"${word}"`).join(" ");
  return new UsageError(`unexpected argument${extra.length > 1 ? "s" : ""} ${words} after ${after}`);
}

/**
 * An option whose value must be an e-mail address (who decides, whose connections): the audit trail keeps it as said,
 * so a slip (`--by me`, a name) is refused rather than recorded.
 */
export function emailOption(option: string, value: string, instead = ""): string {
  if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return value;
  throw new UsageError(`--${option} "${value}" is not an e-mail address (name@example.com)${instead}`);
}
