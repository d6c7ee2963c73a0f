import { z } from "zod";
import type { GuardrailKind } from "./hook.ts";

/**
 * Credentials that must not reach a model through what an upstream answers (a tool's result, a prompt, a resource):
 * each kind by a pattern precise enough not to hide ordinary text, and a cheap test for a substring any match
 * contains. A match is replaced by `[REDACTED <kind>]`.
 * Results can be megabytes an upstream (or a web page it fetched) chose, so each pattern must run in time linear in
 * the text: no quantified run that a failed match would retry from every position inside it.
 */
const CREDENTIALS: readonly { kind: string; hint: RegExp; pattern: RegExp }[] = [
  { kind: "AWS access key id", hint: /AKIA|ASIA|ABIA|ACCA/, pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g },
  {
    kind: "AWS secret access key",
    hint: /secret_?access_?key/i,
    pattern: /(?<=(?:aws_secret_access_key|secretaccesskey)["'\s:=]{1,5})[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/gi,
  },
  {
    kind: "AWS session token",
    hint: /session_?token/i,
    pattern: /(?<=(?:aws_session_token|sessiontoken)["'\s:=]{1,5})[A-Za-z0-9/+=]{100,}/gi,
  },
  {
    kind: "GitHub token",
    hint: /gh[pousr]_|github_pat_/,
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/g,
  },
  { kind: "Slack token", hint: /xox/, pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g },
  { kind: "Google API key", hint: /AIza/, pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { kind: "Stripe secret key", hint: /_live_/, pattern: /\b[rs]k_live_[0-9A-Za-z]{20,}\b/g },
  {
    // A token starts where a run of base64url characters starts (not at every "eyJ" inside one), and each segment is
    // taken whole at once (a lookahead captures it, the backreference consumes it): nothing is retried.
    kind: "JSON Web Token",
    hint: /eyJ/,
    pattern: /(?<![A-Za-z0-9_-])eyJ(?=([A-Za-z0-9_-]{8,}))\1\.eyJ(?=([A-Za-z0-9_-]{8,}))\2\.(?=([A-Za-z0-9_-]{8,}))\3/g,
  },
];

/** A private key block's first line (PEM, OpenSSH, PGP's "PRIVATE KEY BLOCK"), and its last. */
const keyLine = (edge: "BEGIN" | "END") => `-----${edge} [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----`;
/** A private key block's first and last lines, to test one line of text with (no state between tests). */
export const PRIVATE_KEY_LINES = { begin: new RegExp(keyLine("BEGIN")), end: new RegExp(keyLine("END")) } as const;
// Searched for from a position (`lastIndex`), hence global.
const KEY_BEGIN = new RegExp(keyLine("BEGIN"), "g");
const KEY_END = new RegExp(keyLine("END"), "g");

/**
 * Redacts the credentials above in every string of a result (a tool's content and structured content, a prompt's
 * messages, a resource's contents), object keys and the text inside a base64 `blob` included.
 */
export const secretDetector: GuardrailKind = {
  options: z.strictObject({}),
  create: () => ({
    name: "secret-detector",
    result: (_call, result) => redactValue(result) as Record<string, unknown>,
  }),
};

/** Every string of a JSON value redacted, keys too (`{"AKIA…": "ana"}`), and each text `blob` decoded and redacted. */
export function redactValue(value: unknown): unknown {
  if (typeof value === "string") return redactCredentials(value);
  if (Array.isArray(value)) {
    const mapped = value.map(redactValue);
    return mapped.every((item, index) => item === value[index]) ? value : mapped;
  }
  if (typeof value !== "object" || value === null) return value;
  const original = Object.entries(value);
  const entries = original.map(([key, item]) => [
    redactCredentials(key),
    key === "blob" && typeof item === "string" ? redactBlob(item) : redactValue(item),
  ]);
  // Compared with the entries read once: an object of many keys is walked once, not once per key.
  const changed = entries.some(([key, item], index) => key !== original[index]?.[0] || item !== original[index]?.[1]);
  return changed ? Object.fromEntries(uniqueKeys(entries)) : value;
}

/** Keys that redaction made equal (two tokens as keys) numbered, so that no entry overwrites another. */
function uniqueKeys(entries: unknown[][]): unknown[][] {
  const seen = new Map<unknown, number>();
  return entries.map(([key, item]) => {
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    return [count === 1 ? key : `${key} (${count})`, item];
  });
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A base64 blob's text redacted and encoded again; a blob that is not UTF-8 text (an image) as it came. */
function redactBlob(blob: string): string {
  let text: string;
  try {
    text = UTF8.decode(Buffer.from(blob, "base64"));
  } catch {
    return blob;
  }
  const redacted = redactCredentials(text);
  return redacted === text ? blob : Buffer.from(redacted, "utf8").toString("base64");
}

export function redactCredentials(text: string): string {
  let redacted = text.includes("PRIVATE KEY") ? redactPrivateKeys(text) : text;
  // The hint first: most text holds none, and then no pattern runs at all.
  for (const { kind, hint, pattern } of CREDENTIALS) {
    if (hint.test(redacted)) redacted = redacted.replace(pattern, `[REDACTED ${kind}]`);
  }
  return redacted;
}

/**
 * Each private key block, from its first line to its last; one whose last line is missing (a result cut short) to
 * the end of the text. Each search starts where the previous one ended, so the text is read once.
 */
function redactPrivateKeys(text: string): string {
  const kept: string[] = [];
  let from = 0;
  for (;;) {
    KEY_BEGIN.lastIndex = from;
    const begin = KEY_BEGIN.exec(text);
    if (!begin) break;
    KEY_END.lastIndex = begin.index + begin[0].length;
    const end = KEY_END.exec(text);
    kept.push(text.slice(from, begin.index), "[REDACTED private key]");
    if (!end) return kept.join("");
    from = end.index + end[0].length;
  }
  return from === 0 ? text : kept.join("") + text.slice(from);
}
