import type { ServerCapabilities } from "@modelcontextprotocol/server";

/**
 * The requests the origin forwards to an upstream, each with the upstream capability it needs. A method not
 * here, or whose capability the upstream lacks, is answered -32601 by the SDK (HTTP 404 on 2026-07-28), as
 * the upstream itself would. `interactive` methods may need the client's input mid-call (input_required).
 */
export const FORWARDED_METHODS = {
  "tools/list": { capability: "tools" },
  "tools/call": { capability: "tools", interactive: true },
  "prompts/list": { capability: "prompts" },
  "prompts/get": { capability: "prompts", interactive: true },
  "resources/list": { capability: "resources" },
  "resources/templates/list": { capability: "resources" },
  "resources/read": { capability: "resources", interactive: true },
  "completion/complete": { capability: "completions" },
} as const satisfies Record<string, { capability: keyof ServerCapabilities; interactive?: true }>;

export type ForwardedMethod = keyof typeof FORWARDED_METHODS;

export const isInteractive = (method: ForwardedMethod): boolean => "interactive" in FORWARDED_METHODS[method];
