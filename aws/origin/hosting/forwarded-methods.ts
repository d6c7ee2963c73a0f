import type { ServerCapabilities } from "@modelcontextprotocol/server";

/**
 * The requests the origin forwards to an upstream, each with the upstream capability it needs. A method not
 * here, or whose capability the upstream lacks, is answered -32601 by the SDK (HTTP 404 on 2026-07-28), as
 * the upstream itself would. `interactive` methods may need the client's input mid-call (input_required).
 * `reads` change nothing upstream, so a request the connection dropped may be sent again.
 */
export const FORWARDED_METHODS = {
  "tools/list": { capability: "tools", reads: true },
  "tools/call": { capability: "tools", interactive: true },
  "prompts/list": { capability: "prompts", reads: true },
  "prompts/get": { capability: "prompts", interactive: true, reads: true },
  "resources/list": { capability: "resources", reads: true },
  "resources/templates/list": { capability: "resources", reads: true },
  "resources/read": { capability: "resources", interactive: true, reads: true },
  "completion/complete": { capability: "completions", reads: true },
} as const satisfies Record<string, { capability: keyof ServerCapabilities; interactive?: true; reads?: true }>;

export type ForwardedMethod = keyof typeof FORWARDED_METHODS;

export const isInteractive = (method: ForwardedMethod): boolean => "interactive" in FORWARDED_METHODS[method];

/**
 * Whether a request may be sent twice without acting twice: a read, or a call of a tool its server marks read-only or
 * idempotent (the annotations are the server's own word about its tool, which is what retrying one relies on).
 */
export function isRepeatable(method: ForwardedMethod, toolAnnotations: Record<string, unknown> | undefined): boolean {
  if ("reads" in FORWARDED_METHODS[method]) return true;
  return method === "tools/call" && (toolAnnotations?.readOnlyHint === true || toolAnnotations?.idempotentHint === true);
}
