import { z } from "zod";
import type { GuardrailKind } from "./hook.ts";
import { mapStrings } from "./strings.ts";

/**
 * Credentials that must not reach a model through a tool's result: each kind by a pattern precise enough not to
 * hide ordinary text, and substrings any match contains (the case-insensitive pattern lists both spellings). A match is replaced by `[REDACTED <kind>]`.
 */
const CREDENTIALS: readonly { kind: string; hints: readonly string[]; pattern: RegExp }[] = [
  {
    kind: "private key",
    hints: ["PRIVATE KEY-----"],
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  },
  { kind: "AWS access key id", hints: ["AKIA", "ASIA", "ABIA", "ACCA"], pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g },
  {
    kind: "AWS secret access key",
    hints: ["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"],
    pattern: /(?<=aws_secret_access_key["'\s:=]{1,5})[A-Za-z0-9/+=]{40}\b/gi,
  },
  {
    kind: "GitHub token",
    hints: ["gh", "github_pat_"],
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/g,
  },
  { kind: "Slack token", hints: ["xox"], pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g },
  { kind: "Google API key", hints: ["AIza"], pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: "Stripe secret key", hints: ["_live_"], pattern: /\b[rs]k_live_[0-9A-Za-z]{20,}\b/g },
  { kind: "JSON Web Token", hints: ["eyJ"], pattern: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g },
];

/** Redacts the credentials above in every string of a tool's result (text content, structured content, resources). */
export const secretDetector: GuardrailKind = {
  options: z.strictObject({}),
  create: () => ({
    name: "secret-detector",
    result: (_call, result) => mapStrings(result, redactCredentials) as Record<string, unknown>,
  }),
};

export function redactCredentials(text: string): string {
  let redacted = text;
  // A plain substring search first: most text holds none of the hints, and then no pattern runs at all.
  for (const { kind, hints, pattern } of CREDENTIALS) {
    if (hints.some((hint) => redacted.includes(hint))) redacted = redacted.replace(pattern, `[REDACTED ${kind}]`);
  }
  return redacted;
}
