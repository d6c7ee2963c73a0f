import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** What the origin pins: an upstream's tools, prompts, resource templates, and its discovery result. */
export type DefinitionKind = "tool" | "prompt" | "resource_template" | "discovery";

/** The parts of each kind of definition that change what a client or model is told (all of them but volatile ones). */
const PINNED_FIELDS: Record<DefinitionKind, readonly string[]> = {
  tool: ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"],
  prompt: ["name", "title", "description", "arguments", "_meta"],
  resource_template: ["uriTemplate", "name", "title", "description", "mimeType", "annotations", "_meta"],
  discovery: ["capabilities", "instructions", "serverInfo"],
};

type PinnedForm = { form: Record<string, unknown>; fingerprint: string };

/**
 * Fingerprints already taken, per definition object: a call checks the definition its server last listed, the same
 * object every time, so the canonical JSON and its hash are computed once per listing, not once per call. Sound because
 * nothing changes a listed definition in place (the guardrails copy what they change: guardrails/strings.ts).
 */
const taken = new WeakMap<Record<string, unknown>, Partial<Record<DefinitionKind, PinnedForm>>>();

/** The pinned parts of a definition, and their fingerprint: SHA-256 of their RFC 8785 canonical JSON. */
export function pinnedForm(kind: DefinitionKind, definition: Record<string, unknown>): PinnedForm {
  const known = taken.get(definition) ?? {};
  const cached = known[kind];
  if (cached) return cached;
  const form = Object.fromEntries(
    PINNED_FIELDS[kind].filter((field) => definition[field] !== undefined).map((field) => [field, definition[field]]),
  );
  const fingerprint = createHash("sha256")
    .update(canonicalize(form) ?? "")
    .digest("hex");
  known[kind] = { form, fingerprint };
  taken.set(definition, known);
  return known[kind];
}

/** The name a definition is pinned under. */
export const nameOf = (kind: DefinitionKind, definition: Record<string, unknown>): string =>
  String(kind === "resource_template" ? definition.uriTemplate : kind === "discovery" ? "" : definition.name);
