import { denyPatterns } from "./deny-patterns.ts";
import type { GuardrailKind } from "./hook.ts";
import { secretDetector } from "./secret-detector.ts";

/**
 * Every kind of guardrail a server's configuration may name. Adding one is a file that exports a GuardrailKind and
 * a line here: the configuration's `guardrails` entries are validated against each kind's own options at start.
 */
export const GUARDRAIL_KINDS: Record<string, GuardrailKind> = {
  "secret-detector": secretDetector,
  "deny-patterns": denyPatterns as GuardrailKind,
};
