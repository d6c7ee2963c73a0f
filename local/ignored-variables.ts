import { SECRET_ID_PREFIX_VARIABLE } from "../aws/origin/secrets/aws/secrets-manager-provider.ts";
import { EDGE_ENV_NAMES, ORIGIN_ENV_NAMES } from "../contract/config/env-names.ts";
import { EDGE_WIRED_BY_NPM_START, WIRED_KEYS } from "./system.ts";

/** What npm start reads of the origin's variables itself: the rest would be read by an origin it does not run so. */
const READ_BY_NPM_START = new Set(["DATABASE_URL"]);

/** How the local parts reach each other, which npm start sets itself (DATABASE_URL aside: it reads that one). */
const WIRED_BY_NPM_START = new Set<string>(WIRED_KEYS);

/**
 * What the origin's process reads of its environment besides its configuration: the CDK stack's secrets prefix, with
 * which every `{ "secret": … }` would be read from AWS Secrets Manager. npm start's origins run in its own process,
 * so npm start takes these out of its environment (`withoutProcessVariables`): its secrets come from the environment.
 */
const PROCESS_VARIABLES: readonly string[] = [SECRET_ID_PREFIX_VARIABLE];

/**
 * The origin's settings set in npm start's environment, which it does not pass on (the origins it starts read the
 * configuration file only): named, so that `MCP_POLICY=… npm start` is not taken for a run under that policy.
 */
export function ignoredOriginVariables(env: Record<string, string | undefined>): string[] {
  return [...Object.keys(ORIGIN_ENV_NAMES), ...PROCESS_VARIABLES].filter(
    (name) => !READ_BY_NPM_START.has(name) && isSet(env[name]),
  );
}

/** Takes out of npm start's own environment what its in-process origins would read there besides their configuration. */
export function withoutProcessVariables(env: Record<string, string | undefined>): void {
  for (const name of PROCESS_VARIABLES) delete env[name];
}

/** The line npm start prints about them, with where each can be set instead; undefined when there are none. */
export function ignoredVariablesLine(names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  const backend = names.filter((name) => PROCESS_VARIABLES.includes(name));
  const wired = names.filter((name) => WIRED_BY_NPM_START.has(ORIGIN_ENV_NAMES[name as keyof typeof ORIGIN_ENV_NAMES]?.[0]));
  const settable = names.filter((name) => !wired.includes(name) && !backend.includes(name));
  const advice = [
    settable.length > 0 &&
      `put ${settable.length > 1 ? "these settings" : "this setting"} in the configuration file's "origin" section (MCP_PROXY_CONFIG, or proxy.config.json) instead`,
    wired.length > 0 &&
      `it sets ${wired.join(", ")} itself, from its own settings (the ports: EDGE_PORT, ORIGIN_PORT and the others in the README's "Settings for npm start")`,
    backend.length > 0 &&
      `a server's { "secret": "NAME" } is read from npm start's environment (the variable NAME), never from AWS Secrets Manager`,
  ].filter(Boolean);
  return `npm start ignores ${names.join(", ")} in its environment: ${advice.join("; ")}`;
}

const isSet = (value: string | undefined): value is string => value !== undefined && value !== "";

/**
 * The edge's settings set in npm start's environment: passed on to the edge it runs (so that `IDP_ALLOWED_DOMAINS=…
 * npm start` tries that setting), but for those saying how the local parts reach each other, which it sets itself.
 */
export function edgeVariables(env: Record<string, string | undefined>): { settings: Record<string, string>; wired: string[] } {
  const wired = new Set<string>(EDGE_WIRED_BY_NPM_START);
  const set = Object.keys(EDGE_ENV_NAMES).flatMap((name) => {
    const value = env[name];
    return isSet(value) ? [[name, value] as const] : [];
  });
  return {
    settings: Object.fromEntries(set.filter(([name]) => !wired.has(name))),
    wired: set.filter(([name]) => wired.has(name)).map(([name]) => name),
  };
}

/** The lines npm start prints about the edge's variables it found set: those it passes on, and those it ignores. */
export function edgeVariablesLines({ settings, wired }: ReturnType<typeof edgeVariables>): string[] {
  const passed = Object.keys(settings);
  return [
    ...(passed.length > 0 ? [`npm start passes ${passed.join(", ")} from its environment to the edge`] : []),
    ...(wired.length > 0
      ? [
          `npm start ignores ${wired.join(", ")} in its environment: it sets ${wired.length > 1 ? "these" : "this"} itself, ` +
            "to wire the edge to its local origin, identity provider and servers",
        ]
      : []),
  ];
}
