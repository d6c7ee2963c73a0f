import type { GuardedCall, Guardrail } from "./hook.ts";
import { GUARDRAIL_KINDS } from "./kinds.ts";

/** A server's configured guardrails, as the configuration lists them: `{ "hook": "<kind>", ...options }`. */
export type GuardrailEntries = readonly ({ hook: string } & Record<string, unknown>)[];

/** What runs when no server says otherwise: credentials never reach a model through a tool's, a prompt's or a resource's content. */
export const DEFAULT_GUARDRAILS: GuardrailEntries = [{ hook: "secret-detector" }];

/** One line per entry that names no known kind or whose options do not fit it, naming the key. */
export function guardrailProblems(servers: Record<string, { guardrails?: GuardrailEntries }>): string[] {
  return Object.entries(servers).flatMap(([server, spec]) =>
    (spec.guardrails ?? []).flatMap(({ hook, ...options }, index) => {
      const where = `servers.${server}.guardrails.${index}`;
      const kind = GUARDRAIL_KINDS[hook];
      if (!kind) return [`${where}.hook: expected one of ${Object.keys(GUARDRAIL_KINDS).join(", ")}; got "${hook}"`];
      const parsed = kind.options.safeParse(options);
      if (parsed.success) return [];
      return parsed.error.issues.map((issue) => `${[where, ...issue.path].join(".")}: ${issue.message}`);
    }),
  );
}

/** The guardrails of one server, in order, made once. */
export class GuardrailChain {
  readonly #guardrails: Guardrail[];

  constructor(entries: GuardrailEntries = DEFAULT_GUARDRAILS) {
    this.#guardrails = entries.map(({ hook, ...options }) => {
      const kind = GUARDRAIL_KINDS[hook];
      if (!kind) throw new Error(`unknown guardrail "${hook}"`);
      return kind.create(kind.options.parse(options));
    });
  }

  get empty(): boolean {
    return this.#guardrails.length === 0;
  }

  /** The arguments as every guardrail lets them pass (or a GuardrailRefusal thrown by the first that refuses). */
  async arguments(call: GuardedCall, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    let passed = args;
    for (const guardrail of this.#guardrails) if (guardrail.arguments) passed = await guardrail.arguments(call, passed);
    return passed;
  }

  /** The result as every guardrail lets it pass. */
  async result(call: GuardedCall, result: Record<string, unknown>): Promise<Record<string, unknown>> {
    let passed = result;
    for (const guardrail of this.#guardrails) if (guardrail.result) passed = await guardrail.result(call, passed);
    return passed;
  }
}
