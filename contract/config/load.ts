import type { z } from "zod";
import type { EnvNames, EnvValueKind } from "./env-names.ts";
import { misspelledNames } from "./misspelled-names.ts";

/** A configuration that failed validation; `problems` has one line per wrong key, saying where it came from. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface ConfigSources {
  /** The parsed configuration file and its path, if there is one. */
  file?: { path: string; content: unknown };
  /** Environment variables (process.env, or a Worker's env). */
  env: Record<string, unknown>;
  /** Where a missing setting's variable is set, said after its name; by default "or the file". */
  whereToSet?: string;
}

type Tree = Record<string, unknown>;

/** Builds the configuration from defaults < file < environment and validates it; throws ConfigError naming every wrong key. */
export function loadConfig<S extends z.ZodType>(schema: S, envNames: EnvNames, sources: ConfigSources): z.output<S> {
  const origin = new Map<string, string>(); // key path -> where its value came from
  const merged: Tree = {};
  const problems: string[] = [];

  if (sources.file !== undefined) {
    const content = sources.file.content;
    if (typeof content !== "object" || content === null || Array.isArray(content)) {
      throw new ConfigError([`${sources.file.path}: expected a JSON object at the top level`]);
    }
    Object.assign(merged, structuredClone(content));
    origin.set("", sources.file.path);
  }

  problems.push(...misspelledNames(sources.env, envNames));
  for (const [name, [path, kind]] of Object.entries(envNames)) {
    const raw = sources.env[name];
    if (raw === undefined || raw === "") continue;
    try {
      setPath(merged, path, readEnvValue(raw, kind, path));
      origin.set(path, `environment ${name}`);
    } catch (error) {
      // A true/false setting is read as JSON: "yes" is no JSON, but the list of every JSON value does not help there.
      const flag = kind === "json" && schemaAt(schema, path.split("."))?._zod?.def?.type === "boolean";
      const said = flag ? `expected true or false; got ${describe(raw)}` : (error as Error).message;
      problems.push(`${path} (from environment ${name}): ${said}`);
    }
  }

  // Every wrong key at once: a misspelled name or an unreadable value does not hide the schema's findings.
  const result = schema.safeParse(merged, { error: configErrorMap });
  if (result.success && problems.length === 0) return result.data;
  // Where a missing setting may be set: its variable, or the file (named when there is one).
  const whereToSet = sources.whereToSet ?? (sources.file ? `or the file ${sources.file.path}` : "or the file");
  throw new ConfigError([
    ...problems,
    ...(result.success ? [] : schemaProblems(schema, result.error.issues, merged, origin, envNames, whereToSet)),
  ]);
}

/** One line per issue the schema found, naming the key, where its value came from, and what it got. */
function schemaProblems(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
  merged: Tree,
  origin: Map<string, string>,
  envNames: EnvNames,
  whereToSet: string,
): string[] {
  return issues.flatMap((issue) => {
    const path = issue.path.join(".");
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(schema, issue.path);
      const expected = known ? `; expected one of: ${known.join(", ")}` : "";
      return issue.keys.map((key) => {
        const keyPath = path ? `${path}.${key}` : key;
        return `${keyPath} (from ${sourceOf(origin, keyPath) ?? "defaults"}): unknown key${expected}`;
      });
    }
    if (issue.code === "invalid_key") {
      // A record's key that breaks its rule (a server's name): the rule, not "Invalid key in record".
      const rule = issue.issues.map((inner) => inner.message).join("; ");
      return [`${path} (from ${sourceOf(origin, path) ?? "defaults"}): not a valid name here: ${rule}`];
    }
    const value = getPath(merged, issue.path.map(String));
    const missing = value === undefined;
    const got = missing ? "it is missing" : `got ${SECRET_KEYS.test(path) ? "a value (not shown)" : describe(value)}`;
    // A missing value has no type to complain about: say what the setting holds ("an absolute URL such as …"), where
    // the schema says it, rather than "expected text".
    const expected = (missing && issue.code === "invalid_type" && expectedAt(schema, issue.path)) || messageOf(issue);
    // A schema's own message may quote a value too (two servers' audiences, which default to their URLs).
    const message = withoutUrlSecrets(expected);
    const said = message.removed ? `${message.text} (${message.removed})` : message.text;
    // A missing setting with a variable came from nowhere: not from the file, which holds other keys, but from the
    // defaults, which have none; the hint says where to set it.
    const hint = settingHint(path, envNames, whereToSet);
    const source = (missing ? (hint ?? sourceOf(origin, path)) : (sourceOf(origin, path) ?? hint)) ?? "defaults";
    return [`${path || "(top level)"} (from ${source}): ${said}; ${got}`];
  });
}

/** What zod's type names mean to someone writing a configuration. */
const TYPE_TEXT: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "an object",
  array: "a list",
};

/** zod's own words, except for a wrong type: "expected a whole number", not "Invalid input: expected int, received number". */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code !== "invalid_type") return issue.message;
  return `expected ${TYPE_TEXT[issue.expected] ?? issue.expected}`;
}

/** A choice as the other "expected one of" messages list it: ok, error, tool_error (text unquoted, comma-separated). */
const choices = (values: readonly unknown[]) => values.map(String).join(", ");

/**
 * The project's words for zod's default range and choice messages ("Too big: expected number to be <=65535", "Invalid
 * option: expected one of "a"|"b""), for every parse of a configuration: "expected a whole number from 1 to 65535",
 * "expected one of at-start, verify". Passed to `safeParse`, it yields to a message a schema gives itself. The value
 * found is said after it by the caller ("; got …"), never here: a secret's value is not shown.
 */
export function configErrorMap(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_value") return `expected ${issue.values.length === 1 ? "" : "one of "}${choices(issue.values)}`;
  if (issue.code === "invalid_union") return literalChoices(issue.errors);
  if ((issue.code !== "too_big" && issue.code !== "too_small") || issue.origin !== "number") return undefined;
  // The number schema itself (the issue's `inst` is the failed check): both bounds, to say the whole range.
  const number = (issue as { schema?: { minValue?: number | null; maxValue?: number | null; isInt?: boolean } }).schema;
  const kind = number?.isInt ? "a whole number" : "a number";
  // A whole number's own limits (±2^53 - 1) are no bound anyone set.
  const set = (value: number | null | undefined) => typeof value === "number" && Math.abs(value) < Number.MAX_SAFE_INTEGER;
  if (set(number?.minValue) && set(number?.maxValue)) return `expected ${kind} from ${number?.minValue} to ${number?.maxValue}`;
  const limit = issue.code === "too_big" ? issue.maximum : issue.minimum;
  const inclusive = issue.inclusive !== false;
  const side = issue.code === "too_big" ? (inclusive ? "at most" : "below") : inclusive ? "at least" : "above";
  return `expected ${kind} ${side} ${limit}`;
}

/** A union of literals (`512 | 1024 | …`) said as one choice; undefined for any other union (zod's words). */
function literalChoices(errors: readonly (readonly z.core.$ZodIssue[])[]): string | undefined {
  const values = errors.map((branch) =>
    branch.length === 1 && branch[0]?.code === "invalid_value" ? branch[0].values : undefined,
  );
  if (values.length === 0 || values.some((branch) => branch === undefined)) return undefined;
  return `expected one of ${choices(values.flatMap((branch) => branch ?? []))}`;
}

/** What a zod error map returns: the message, or an object holding it, or nothing (zod's own words). */
type ErrorMessage = string | { message?: string } | undefined | null;

/** The parts of a zod schema's definition that lead to the object a path names, and a text's format checks. */
type SchemaNode = {
  _zod?: {
    def?: {
      type?: string;
      innerType?: SchemaNode;
      in?: SchemaNode;
      shape?: Record<string, SchemaNode>;
      valueType?: SchemaNode;
      checks?: SchemaNode[];
      format?: string;
      error?: (issue: Record<string, unknown>) => ErrorMessage;
    };
  };
};

/** Schemas that wrap another without changing its keys. */
const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "catch", "pipe"]);

/** The schema of the value at `path`, its wrappers taken off; undefined where it cannot tell (inside a union). */
function schemaAt(schema: unknown, path: readonly PropertyKey[]): SchemaNode | undefined {
  const unwrap = (node: SchemaNode | undefined) => {
    let current = node;
    while (current?._zod?.def?.type && WRAPPERS.has(current._zod.def.type))
      current = current._zod.def.innerType ?? current._zod.def.in;
    return current;
  };
  let node = unwrap(schema as SchemaNode);
  for (const segment of path) {
    const def = node?._zod?.def;
    if (def?.type === "object") node = unwrap(def.shape?.[String(segment)]);
    else if (def?.type === "record") node = unwrap(def.valueType);
    else return undefined;
  }
  return node;
}

/** The keys the schema allows in the object at `path`, for "unknown key" messages; undefined where it cannot tell (a union). */
function knownKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] | undefined {
  const def = schemaAt(schema, path)?._zod?.def;
  return def?.type === "object" && def.shape ? Object.keys(def.shape) : undefined;
}

/**
 * What the schema says a text at `path` must look like, in its own words: the message of its format (`z.url({ message
 * })`, a `regex`), such as "expected an absolute URL such as https://mcp.example.com"; undefined when it has none.
 */
function expectedAt(schema: unknown, path: readonly PropertyKey[]): string | undefined {
  const node = schemaAt(schema, path);
  const def = node?._zod?.def;
  if (def?.type !== "string") return undefined;
  // A format schema (z.url()) carries its message itself; a z.string() carries format checks.
  const formats = [node, ...(def.checks ?? [])].filter((check) => check?._zod?.def?.format !== undefined);
  for (const format of formats) {
    let said: ErrorMessage;
    try {
      said = format?._zod?.def?.error?.({ code: "invalid_format", format: format._zod.def.format, input: undefined });
    } catch {
      // A message built from the value it was given: there is none here; the type's words will do.
      continue;
    }
    const text = typeof said === "string" ? said : said?.message;
    if (text) return text;
  }
  return undefined;
}

/**
 * A variable's value. The environment gives text; a Worker's `[vars]` entry that is not a quoted string in
 * wrangler.toml (`IDP_ALLOWED_DOMAINS = ["example.com"]`, `ACCESS_TOKEN_TTL_SECONDS = 600`) arrives as the JSON value
 * wrangler made of it: taken when it is what the setting reads, refused otherwise (never left at its default without a
 * word: for the allowed domains, that default lets every account in).
 */
function readEnvValue(raw: unknown, kind: EnvValueKind, path: string): unknown {
  if (typeof raw === "string") return readEnvText(raw, kind);
  if (kind === "json") return raw;
  if (kind === "number" && typeof raw === "number" && Number.isFinite(raw)) return raw;
  if (kind === "list" && Array.isArray(raw) && raw.every((item) => typeof item === "string"))
    return raw.map((item) => item.trim()).filter(Boolean);
  const got = SECRET_KEYS.test(path) ? "a value (not shown)" : describe(raw);
  throw new Error(`expected ${KIND_TEXT[kind]}; got ${got} (in wrangler.toml, write it as ${KIND_EXAMPLE[kind]})`);
}

const KIND_TEXT: Record<EnvValueKind, string> = {
  string: "text",
  number: "a number",
  list: "a list of names",
  json: "JSON",
};
const KIND_EXAMPLE: Record<EnvValueKind, string> = {
  string: 'a quoted string: NAME = "value"',
  number: "a number: NAME = 600",
  list: 'an array of strings, NAME = ["a", "b"], or one string, NAME = "a,b"',
  json: "any TOML value",
};

/** A decimal as people write one: optional sign, digits, optional fraction and exponent, spaces around. */
const DECIMAL = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

function readEnvText(raw: string, kind: EnvValueKind): unknown {
  switch (kind) {
    case "string":
      return raw;
    case "number": {
      // Number() reads "" and " " as 0 and "0x10" as 16: a blank or mistyped setting would silently turn a cache,
      // a grace or a limit off. Only a decimal is a number here.
      if (!DECIMAL.test(raw) || !Number.isFinite(Number(raw))) throw new Error(`expected a number; got "${raw}"`);
      return Number(raw);
    }
    case "list":
      return raw
        .split(",")
        .map((item) => item.trim())
        .filter(Boolean);
    case "json":
      try {
        return JSON.parse(raw);
      } catch (error) {
        // What a JSON value looks like: `WARM_ON_SIGN_IN=no` wants `false`, a list wants brackets and quotes.
        throw new Error(`expected JSON (${jsonSyntaxProblem(error)}): true, false, a number, "text" in quotes, [a, list] or {…}`);
      }
  }
}

/**
 * Where a document stopped being JSON, never the text around it: JSON.parse quotes the value, and configurations
 * hold servers' settings, credentials among them.
 */
export function jsonSyntaxProblem(error: unknown): string {
  const where = /at position \d+( \(line \d+ column \d+\))?/.exec((error as Error).message)?.[0];
  return where ? `not valid JSON ${where}` : "not valid JSON";
}

/** Where the value at `path` came from: the source of the nearest key above it that has one (the file's root included). */
function sourceOf(origin: Map<string, string>, path: string): string | undefined {
  for (let prefix = path; ; prefix = prefix.slice(0, Math.max(prefix.lastIndexOf("."), 0))) {
    const source = origin.get(prefix);
    if (source) return source;
    if (prefix === "") return undefined;
  }
}

/** Where to set the setting at `path` when it has a variable: that variable, then `whereToSet`. */
function settingHint(path: string, envNames: EnvNames, whereToSet: string): string | undefined {
  const envName = Object.entries(envNames).find(([, [p]]) => p === path)?.[0];
  return envName && `defaults; set environment ${envName} ${whereToSet}`;
}

/**
 * Keys whose values are never shown in a message (it goes to a log): credentials by name (a key, a secret, a token, a
 * password, a database URL that may carry one; not a key's id or file, nor a token's lifetime), and whatever an
 * upstream is given as headers, environment, command line or command, where configurations put tokens
 * (`--token …`, `sh -c "… $TOKEN"`).
 */
const SECRET_KEYS = /(secret|token|password|key|keys|keyRotation|databaseUrl)$|(^|\.)(headers|env|args|command)(\.|$)/i;

/**
 * A URL's user name and password (`scheme://user:password@`), anywhere in a text: up to the last `@` before a space
 * or a quote, so a password pasted unencoded (holding `/`, `#`, `?` or `@`, which is when a URL is refused) goes
 * whole. A URL with an `@` in its path loses more than its user name: taking too much beats showing a password.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"']*@/gi;
/** A URL's query and fragment, where servers take keys too (`?api_key=…`): up to a space or a quote. */
const URL_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s"'?#]*)[?#][^\s"']*/gi;

/** The text with every URL's user name, password, query and fragment taken out, and a note of what went, if any. */
function withoutUrlSecrets(text: string): { text: string; removed?: string } {
  const withoutUserinfo = text.replace(URL_USERINFO, "$1");
  const stripped = withoutUserinfo.replace(URL_QUERY, "$1?…");
  const parts = [withoutUserinfo !== text && "user:password@", stripped !== withoutUserinfo && "query"].filter(Boolean);
  return parts.length === 0 ? { text } : { text: stripped, removed: `a URL's ${parts.join(" and ")} removed` };
}

/**
 * Names the offending value without echoing secrets: strings are shown only when short and plainly not a key, and a
 * URL in one without its user name, password and query (a server's URL may carry them), saying so.
 */
function describe(value: unknown): string {
  if (typeof value === "string") {
    const { text, removed } = withoutUrlSecrets(value);
    const shown = text.length <= 120 ? JSON.stringify(text) : `a string of ${text.length} characters`;
    return removed ? `${shown} (${removed})` : shown;
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  // A number or true/false as written: the quotes of a string tell them apart.
  return typeof value === "number" || typeof value === "boolean" ? String(value) : `${typeof value} ${String(value)}`;
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    node[key] = typeof next === "object" && next !== null && !Array.isArray(next) ? next : {};
    node = node[key] as Tree;
  }
  node[keys.at(-1) as string] = value;
}

function getPath(tree: Tree, keys: string[]): unknown {
  let node: unknown = tree;
  for (const key of keys) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Tree)[key];
  }
  return node;
}
