import { DEFAULT_REDACTED_KEYS, DEFAULT_REDACTED_PATTERNS, REDACTED, redact } from "../../../contract/audit-redaction.ts";
import type { UpstreamServer } from "../../../contract/config/schema.ts";

/** A literal credential in a server's settings, by its path under `origin.servers`. */
export interface LiteralCredential {
  path: string[];
  message: string;
}

/** Only the audit's key names, so a name reads as a credential's exactly where the audit would hide its value. */
const CREDENTIAL_NAMES = { keys: DEFAULT_REDACTED_KEYS, paths: [], patterns: [] };

/** Only the audit's value patterns (a GitHub or AWS key, a JWT, a private key block, …), whatever a value's name. */
const CREDENTIAL_VALUES = { keys: [], paths: [], patterns: DEFAULT_REDACTED_PATTERNS };

/** Also `*_key`, `*-key`: a header or variable so named holds a key far more often than not (DD_APP_KEY). */
const KEY_NAME = /(?:^|[-_])key$/i;

const namesCredential = (name: string) =>
  KEY_NAME.test(name) || (redact({ [name]: "" }, CREDENTIAL_NAMES) as Record<string, unknown>)[name] === REDACTED;

const looksLikeCredential = (value: string) => redact(value, CREDENTIAL_VALUES) !== value;

/**
 * Each credential written as a plain value in the servers' settings: a header or a stdio variable whose name is a
 * credential's (authorization, cookie, *token, *apikey, …: the audit's redaction list), and a static OAuth client's
 * secret. The stack hands `origin.servers` to the tasks whole, as the MCP_SERVERS variable: such a value would sit in
 * the task definition and the CloudFormation template, readable by whoever may describe either (docs/deploy.md,
 * "Secrets"). A value whose name is no credential's (LOG_LEVEL, a base URL) stays where it is.
 */
export function literalCredentials(servers: Record<string, UpstreamServer>): LiteralCredential[] {
  return Object.entries(servers).flatMap(([server, spec]) => {
    const [place, values] = spec.transport === "http" ? (["headers", spec.headers] as const) : (["env", spec.env] as const);
    const found = Object.entries(values)
      .filter(([name, value]) => typeof value === "string" && namesCredential(name))
      .map(([name]) => problem(server, [place, name], `${place === "headers" ? "header" : "variable"} "${name}"`));
    if (spec.transport === "http" && typeof spec.oauth?.clientSecret === "string")
      found.push(problem(server, ["oauth", "clientSecret"], "OAuth client secret"));
    return [...found, ...credentialShapedValues(server, spec, values, found)];
  });
}

function problem(server: string, path: string[], what: string): LiteralCredential {
  return {
    path: [server, ...path],
    message:
      `server "${server}" has its ${what} as a plain value, which the deployment would write into the task definition ` +
      'and the CloudFormation template (MCP_SERVERS): write { "secret": "NAME" } instead, add NAME to ' +
      "origin.upstreamSecrets and put the value in Secrets Manager (docs/deploy.md#3-secrets)",
  };
}

/**
 * Plain values that look like a credential whatever their name (the audit's redaction patterns): in a header, a
 * variable, an argument of a stdio command or the server's URL. Those already refused by name are not named twice.
 */
function credentialShapedValues(
  server: string,
  spec: UpstreamServer,
  values: Record<string, unknown>,
  found: LiteralCredential[],
): LiteralCredential[] {
  const place = spec.transport === "http" ? "headers" : "env";
  const named = new Set(found.map((credential) => credential.path.join(".")));
  const candidates: [string[], string, unknown][] = [
    ...Object.entries(values).map(([name, value]): [string[], string, unknown] => [
      [place, name],
      `${place === "headers" ? "header" : "variable"} "${name}"`,
      value,
    ]),
    ...(spec.transport === "http"
      ? [[["url"], "URL", spec.url] as [string[], string, unknown]]
      : spec.args.map((arg, index): [string[], string, unknown] => [["args", String(index)], `argument ${index + 1}`, arg])),
  ];
  return candidates
    .filter(
      ([path, , value]) => typeof value === "string" && looksLikeCredential(value) && !named.has([server, ...path].join(".")),
    )
    .map(([path, what]) => problem(server, path, `${what}, which looks like a credential,`));
}
