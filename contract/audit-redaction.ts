import { MAX_AUDIT_ARGUMENTS_BYTES, MAX_AUDIT_ARGUMENTS_DEPTH, utf8Length } from "./audit-event.ts";

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
 * The key of the object that stands for arguments not kept: too large, `{ "[truncated]": { bytes, preview } }`, or left
 * out because the edge failed to build its event with them, `{ "[truncated]": { error } }` (worker/audit/record.ts).
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
  String.raw`\b[Bb]earer\s+[A-Za-z0-9._~+/-]{16,}=*`, // a bearer credential in text
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
        const hidden = rules.keys.some((rule) => normalizeKey(key).endsWith(rule));
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
 * their JSON is over {@link MAX_AUDIT_ARGUMENTS_BYTES}, replaced by `{ "[truncated]": { bytes, preview } }` with the
 * start of the (redacted) JSON as preview.
 */
export function auditArguments(value: Record<string, unknown>, rules: RedactionRules): Record<string, unknown> {
  const redacted = redact(value, rules) as Record<string, unknown>;
  const json = JSON.stringify(redacted);
  const bytes = utf8Length(json);
  if (bytes <= MAX_AUDIT_ARGUMENTS_BYTES) return redacted;
  // Escapes can make the preview's JSON longer than the preview: shorten until the marker fits.
  let previewLength = MAX_AUDIT_ARGUMENTS_BYTES - 100;
  for (;;) {
    const marker = { [TRUNCATED_KEY]: { bytes, preview: json.slice(0, previewLength) } };
    if (utf8Length(JSON.stringify(marker)) <= MAX_AUDIT_ARGUMENTS_BYTES) return marker;
    previewLength = Math.floor(previewLength / 2);
  }
}
