import leven from "leven";
import type { EnvNames } from "./env-names.ts";

/** Two edits: a letter missing, doubled or swapped (`IDP_ALLOWED_DOMAIN`, `ORIGN_URL`). */
const MAX_EDITS = 2;

/**
 * Only names of several words are compared: a process's environment is full of short ones (`HOME` is two edits from
 * `HOST`), and no multi-word variable of a shell or a platform is that close to a setting.
 */
const SEVERAL_WORDS = /^[A-Z0-9]+_[A-Z0-9_]+$/;

/**
 * Variables of `env` that name no setting but are within two edits of one. Unknown variables are otherwise ignored
 * (a Worker's env also holds its bindings, a process's everything else), so a typo would leave the setting at its
 * default without a word: for `IDP_ALLOWED_DOMAINS` that is every account the identity provider signs in.
 * One problem line per variable, naming the setting it resembles; values are never read.
 */
export function misspelledNames(env: Record<string, unknown>, names: EnvNames): string[] {
  const known = Object.keys(names);
  return Object.keys(env)
    .filter((name) => isVariable(env[name]) && SEVERAL_WORDS.test(name) && !(name in names))
    .flatMap((name) => {
      const meant = closestName(name, known);
      return meant
        ? [`${name} (environment): not a setting; did you mean ${meant}? (a name unknown to every setting would be ignored)`]
        : [];
    });
}

/** The first of `known` within two edits of `name`, the "did you mean" of a refused name; none when none is that close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  return known.find((candidate) => leven(name, candidate) <= MAX_EDITS);
}

/**
 * A variable, not a Worker's binding (a KV namespace, a queue: objects): text, or the number, boolean or array
 * wrangler makes of a `[vars]` entry written without quotes.
 */
const isVariable = (value: unknown): boolean =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean" || Array.isArray(value);
