import type { z } from "zod";

/** The requests whose results pass through guardrails: everything an upstream answers with content for a model. */
export const GUARDED_METHODS = ["tools/call", "prompts/get", "resources/read"] as const;
export type GuardedMethod = (typeof GUARDED_METHODS)[number];

/** What a hook sees of the request it guards. */
export interface GuardedCall {
  server: string;
  /**
   * The request's method. Results pass the hooks for a tool call, a prompt's get or a resource's read; the log and
   * progress messages an upstream sends while it works on any request pass them too; `arguments` hooks see tool calls
   * only.
   */
  method: string;
  /** What the request names, as its upstream knows it: the tool's or the prompt's name, or the resource's URI. */
  name: string;
  /** The caller, as the edge assertion names them. */
  user: { sub: string; email?: string };
}

/**
 * A guardrail: code that sees a tool call's arguments before the upstream does, and the result of a tool call, a
 * prompt or a resource read before the client does, and may change either or refuse the call (by throwing
 * {@link GuardrailRefusal}). Hooks run in the order a server's configuration lists them; results pass through them in
 * the same order.
 */
export interface Guardrail {
  readonly name: string;
  arguments?(call: GuardedCall, args: Record<string, unknown>): Record<string, unknown> | Promise<Record<string, unknown>>;
  result?(call: GuardedCall, result: Record<string, unknown>): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** A kind of guardrail: its options' schema (validated at start) and how to make one from them. */
export interface GuardrailKind<S extends z.ZodType = z.ZodType> {
  options: S;
  create(options: z.output<S>): Guardrail;
}

/** JSON-RPC error of a call a guardrail refused. */
export const GUARDRAIL_REFUSED_CODE = -32005;
