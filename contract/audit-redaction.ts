import { MAX_AUDIT_ARGUMENTS_BYTES, MAX_AUDIT_ARGUMENTS_DEPTH, utf8Length } from "./audit-event.ts";
import { wellFormed } from "./well-formed.ts";

/**
 * What is hidden in audited arguments before they leave the edge (docs/audit.md, "Redaction"). Pure functions, so
 * the edge applies them and tests check them without a runtime.
 */
export interface RedactionRules {
  /**
   * Key names whose values are replaced whole. A rule matches a key whose name, lowercased and without `-`, `_`, `.`
   * and spaces, ends with the rule written the same way: `token` matches `access_token` and `X-Auth-Token`.
   */
  keys: readonly string[];
  /** JSON paths whose values are replaced whole: `$.a.b`, `$.list[0]`, `$.list[*].secret`, `$.map.*`. */
  paths: readonly string[];
  /** Regular expressions (JavaScript syntax); each match inside a string value is replaced. */
  patterns: readonly string[];
}

/** What a redacted value (or a redacted part of a string) becomes. */
export const REDACTED = "[REDACTED]";

/** What an object or array nested deeper than {@link MAX_AUDIT_ARGUMENTS_DEPTH} levels becomes. */
export const TOO_DEEP = "[too deep]";

/**
 * The key of the object that stands for arguments not kept: too large even with every value cut short (more keys than
 * fit), `{ "[truncated]": { bytes, preview } }`, or left out because the edge failed to build its event with them,
 * `{ "[truncated]": { error } }` (worker/audit/record.ts).
 */
export const TRUNCATED_KEY = "[truncated]";

/** Key names that usually hold secrets. */
export const DEFAULT_REDACTED_KEYS: readonly string[] = [
  "password",
  "passwd",
  "passphrase",
  "pwd",
  "secret",
  "token",
  "apikey",
  "accesskey",
  "privatekey",
  "authorization",
  "auth",
  "cookie",
  "credential",
  "credentials",
  "signature",
];

/** Text that is a secret wherever it appears. */
export const DEFAULT_REDACTED_PATTERNS: readonly string[] = [
  String.raw`\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b`, // AWS access key id
  String.raw`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`, // PEM private key block
  String.raw`\bgh[pousr]_[A-Za-z0-9]{36,}\b`, // GitHub token
  String.raw`\bxox[abposr]-[A-Za-z0-9-]{10,}`, // Slack token
  String.raw`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+`, // JWT
  // A bearer credential in text: "tar cz bearer /home/u/.ssh/id_rsa" names a path the client would otherwise hide
  // from the trail by writing "bearer" before it. So a token either has no `/` in its first 16 characters, or is
  // standard base64 throughout (no `.`, `_`, `-` or `~`, as paths have), not starting with `/`, with a digit: about
  // one such token in five has a `/` early.
  String.raw`\b[Bb]earer\s+(?:[A-Za-z0-9._~+-]{16,}(?:/[A-Za-z0-9._~+/-]*)?=*|(?!/)(?=[A-Za-z+/]*[0-9])[A-Za-z0-9+/]{16,}=*(?![A-Za-z0-9._~+/=-]))`,
];

/** The built-in rules: common secret key names, AWS access key ids, private key blocks and common token formats. */
export const DEFAULT_REDACTION_RULES: RedactionRules = {
  keys: DEFAULT_REDACTED_KEYS,
  paths: [],
  patterns: DEFAULT_REDACTED_PATTERNS,
};

type PathStep = string | number | "*";

interface CompiledRules {
  keys: string[];
  paths: PathStep[][];
  patterns: RegExp[];
}

const normalizeKey = (key: string) => key.toLowerCase().replace(/[-_.\s]/g, "");

/** A JSON path as steps (`$.a[0].*` → ["a", 0, "*"]), or an error naming what is wrong with it. */
export function parseJsonPath(path: string): PathStep[] {
  if (!path.startsWith("$")) throw new SyntaxError(`JSON path "${path}": expected it to start with $`);
  const steps: PathStep[] = [];
  const step = /\.([A-Za-z0-9_$-]+|\*)|\[(\d+|\*)\]|\['([^']*)'\]/y;
  step.lastIndex = 1;
  while (step.lastIndex < path.length) {
    const at = step.lastIndex;
    const match = step.exec(path);
    if (!match)
      throw new SyntaxError(`JSON path "${path}": unexpected "${path.slice(at)}" (expected .name, [n], [*] or ['name'])`);
    const [, name, index, quoted] = match;
    if (name !== undefined) steps.push(name);
    else if (index !== undefined) steps.push(index === "*" ? "*" : Number(index));
    else steps.push(quoted ?? "");
  }
  return steps;
}

/** The rules made ready to apply; throws on a path or pattern that cannot be used (the configuration check calls it). */
export function compileRedactionRules(rules: RedactionRules): CompiledRules {
  return {
    keys: rules.keys.map(normalizeKey).filter((key) => key.length > 0),
    paths: rules.paths.map(parseJsonPath),
    patterns: rules.patterns.map((pattern) => new RegExp(pattern, "g")),
  };
}

/** `rules` plus the built-in ones, unless `withDefaults` is false. */
export function withDefaultRules(rules: RedactionRules, withDefaults: boolean): RedactionRules {
  if (!withDefaults) return rules;
  return {
    keys: [...DEFAULT_REDACTED_KEYS, ...rules.keys],
    paths: [...rules.paths],
    patterns: [...DEFAULT_REDACTED_PATTERNS, ...rules.patterns],
  };
}

/**
 * `value` with every value under a matching key or path replaced by {@link REDACTED}, and every pattern match inside
 * strings replaced by it; an object or array nested deeper than {@link MAX_AUDIT_ARGUMENTS_DEPTH} levels (`value`
 * itself is the first) becomes {@link TOO_DEEP}. The input is not changed.
 */
export function redact(value: unknown, rules: RedactionRules): unknown {
  const compiled = compileRedactionRules(rules);
  return redactAt(value, [], compiled);
}

function redactAt(value: unknown, path: (string | number)[], rules: CompiledRules): unknown {
  if (typeof value === "string") return redactText(value, rules.patterns);
  if (Array.isArray(value)) return value.map((item, index) => redactChild(item, [...path, index], rules));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => {
        const normalized = normalizeKey(key);
        const hidden = rules.keys.some((rule) => normalized.endsWith(rule));
        return [key, hidden ? REDACTED : redactChild(item, [...path, key], rules)];
      }),
    );
  }
  return value;
}

function redactChild(value: unknown, path: (string | number)[], rules: CompiledRules): unknown {
  if (rules.paths.some((steps) => pathMatches(steps, path))) return REDACTED;
  // Each level is a call: a client's few KB of nested brackets would otherwise exhaust the stack and lose the event.
  if (path.length >= MAX_AUDIT_ARGUMENTS_DEPTH && typeof value === "object" && value !== null) return TOO_DEEP;
  return redactAt(value, path, rules);
}

function pathMatches(steps: PathStep[], path: (string | number)[]): boolean {
  return steps.length === path.length && steps.every((step, index) => step === "*" || step === path[index]);
}

function redactText(text: string, patterns: RegExp[]): string {
  return patterns.reduce((redacted, pattern) => redacted.replace(pattern, REDACTED), text);
}

/**
 * Arguments as an audit event carries them: redacted (and cut at {@link MAX_AUDIT_ARGUMENTS_DEPTH} levels), then, if
 * their JSON is over {@link MAX_AUDIT_ARGUMENTS_BYTES}, cut to fit by size, never by position: every key stays, and
 * the longest strings (values and keys) are cut first, each to its start and `…[truncated from <n> characters]`, to
 * one common length, as long as fits; if strings of {@link MIN_KEPT_CHARACTERS} characters are still too much (many
 * small items), the longest arrays are cut instead, to their first items and `…[<n> more items]`, and if that is not
 * enough, both. A client cannot hide its real
 * arguments behind a large first one: the large one is what is cut. Only arguments with more keys than fit become
 * `{ "[truncated]": { bytes, preview } }`, the preview being the start of their JSON with sorted keys, every value cut.
 */
export function auditArguments(value: Record<string, unknown>, rules: RedactionRules): Record<string, unknown> {
  const redacted = redact(value, rules) as Record<string, unknown>;
  if (fits(redacted)) return redacted;
  // Every key stays, so many keys are over the limit however short the values: say so without searching (each step of
  // a search copies the arguments, which made 10,000 long keys cost a Worker its CPU limit, s21 review R8).
  if (keptKeyBytes(redacted) > MAX_AUDIT_ARGUMENTS_BYTES) return previewMarker(redacted);
  // A string cut to more than the limit cannot fit, so neither search goes past it: at most 14 steps each.
  const longest = Math.min(longestText(redacted), MAX_AUDIT_ARGUMENTS_BYTES);
  const maxChars = largestFitting(MIN_KEPT_CHARACTERS, longest, (cap) => shortened(redacted, cap, Infinity));
  if (maxChars !== undefined) return shortened(redacted, maxChars, Infinity) as Record<string, unknown>;
  const items = Math.min(longestArray(redacted), MAX_AUDIT_ARGUMENTS_BYTES);
  for (const maxChars of [Infinity, MIN_KEPT_CHARACTERS]) {
    const maxItems = largestFitting(1, items, (cap) => shortened(redacted, maxChars, cap));
    if (maxItems !== undefined) return shortened(redacted, maxChars, maxItems) as Record<string, unknown>;
  }
  return previewMarker(redacted);
}

/** The fewest characters a cut string keeps: what is redacted (`[REDACTED]`, `[too deep]`) is never cut further. */
export const MIN_KEPT_CHARACTERS = 16;

const fits = (value: unknown) => utf8Length(JSON.stringify(value)) <= MAX_AUDIT_ARGUMENTS_BYTES;

/**
 * The largest cap from `low` to `high` whose shortened arguments fit, or undefined if even `low` is too much: a binary
 * search, as the size grows with the cap (cutting a string only a little can lengthen it by its marker; a cap found
 * that way still fits, which is checked).
 */
function largestFitting(low: number, high: number, shorten: (cap: number) => unknown): number | undefined {
  if (!fits(shorten(low))) return undefined;
  let [fitting, tooMuch] = [low, high + 1];
  while (tooMuch - fitting > 1) {
    const middle = Math.floor((fitting + tooMuch) / 2);
    if (fits(shorten(middle))) fitting = middle;
    else tooMuch = middle;
  }
  return fitting;
}

/** `value` with strings and keys over `maxChars` characters, and arrays over `maxItems` items, cut with a marker. */
function shortened(value: unknown, maxChars: number, maxItems: number): unknown {
  if (typeof value === "string") return cutText(value, maxChars);
  if (Array.isArray(value)) {
    const kept = value.slice(0, maxItems).map((item) => shortened(item, maxChars, maxItems));
    return value.length > maxItems ? [...kept, `…[${value.length - maxItems} more items]`] : kept;
  }
  if (typeof value !== "object" || value === null) return value;
  const entries = new Map<string, unknown>();
  // Two long keys cut to the same start both stay, numbered; the next number per start is kept, as probing from 2
  // for each key was quadratic in keys sharing a start.
  const nextCopy = new Map<string, number>();
  for (const [key, item] of Object.entries(value)) {
    const cut = cutText(key, maxChars);
    let name = cut;
    if (entries.has(name)) {
      let copy = nextCopy.get(cut) ?? 2;
      for (name = `${cut} (${copy})`; entries.has(name); name = `${cut} (${copy})`) copy++;
      nextCopy.set(cut, copy + 1);
    }
    entries.set(name, shortened(item, maxChars, maxItems));
  }
  return Object.fromEntries(entries);
}

/**
 * The fewest bytes the keys of `value` take in any cut of it: each key kept (`"k":v` is at least 4 bytes besides the
 * key, and a key keeps at least {@link MIN_KEPT_CHARACTERS} of its characters), in objects that no cut leaves out
 * (those under an array's first item and under other objects). Counted without copying; stops once over the limit.
 */
function keptKeyBytes(value: unknown, counted = 0): number {
  if (counted > MAX_AUDIT_ARGUMENTS_BYTES || typeof value !== "object" || value === null) return counted;
  if (Array.isArray(value)) return value.length > 0 ? keptKeyBytes(value[0], counted) : counted;
  let total = counted;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    total = keptKeyBytes((value as Record<string, unknown>)[key], total + 4 + Math.min(key.length, MIN_KEPT_CHARACTERS));
    if (total > MAX_AUDIT_ARGUMENTS_BYTES) return total;
  }
  return total;
}

/** The text, or its first `maxChars` characters and how long it was; as fitText marks a cut text column. */
const cutText = (text: string, maxChars: number) =>
  text.length <= maxChars ? text : `${wellFormed(text.slice(0, maxChars))}…[truncated from ${text.length} characters]`;

/** The most characters of a string or key in `value`, and the most items of an array: where a binary search ends. */
const longestText = (value: unknown): number => largest(value, (item) => (typeof item === "string" ? item.length : 0), true);
const longestArray = (value: unknown): number => largest(value, (item) => (Array.isArray(item) ? item.length : 0), false);

function largest(value: unknown, measure: (item: unknown) => number, keys: boolean): number {
  let most = measure(value);
  if (typeof value !== "object" || value === null) return most;
  for (const [key, item] of Object.entries(value)) {
    most = Math.max(most, keys ? key.length : 0, largest(item, measure, keys));
  }
  return most;
}

/** Arguments with more keys than fit: their size, and the start of their JSON with sorted keys and every value cut. */
function previewMarker(redacted: Record<string, unknown>): Record<string, unknown> {
  const bytes = utf8Length(JSON.stringify(redacted));
  const json = JSON.stringify(sortedKeys(shortened(redacted, MIN_KEPT_CHARACTERS, 1)));
  // Escapes can make the preview's JSON longer than the preview: shorten until the marker fits.
  let previewLength = MAX_AUDIT_ARGUMENTS_BYTES - 100;
  for (;;) {
    const marker = { [TRUNCATED_KEY]: { bytes, preview: json.slice(0, previewLength) } };
    if (fits(marker)) return marker;
    previewLength = Math.floor(previewLength / 2);
  }
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([key, item]) => [key, sortedKeys(item)]));
}
