import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** What the origin pins: an upstream's tools, prompts, resources, resource templates, and its discovery result. */
export type DefinitionKind = "tool" | "prompt" | "resource" | "resource_template" | "discovery";

/** The parts of each kind of definition that change what a client or model is told (all of them but volatile ones). */
const PINNED_FIELDS: Record<DefinitionKind, readonly string[]> = {
  tool: ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"],
  prompt: ["name", "title", "description", "arguments", "_meta"],
  // Not its size, nor (below) its lastModified annotation: they change with the resource's contents, not its description.
  resource: ["uri", "name", "title", "description", "mimeType", "annotations", "icons", "_meta"],
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
  if (kind === "resource") withoutLastModified(form);
  const fingerprint = createHash("sha256")
    .update(canonicalize(form) ?? "")
    .digest("hex");
  known[kind] = { form, fingerprint };
  taken.set(definition, known);
  return known[kind];
}

/** Leaves out of a form the annotation that says when a resource last changed (its contents, not what it is). */
function withoutLastModified(form: Record<string, unknown>): void {
  const annotations = form.annotations;
  if (typeof annotations !== "object" || annotations === null || !("lastModified" in annotations)) return;
  const { lastModified: _, ...rest } = annotations as Record<string, unknown>;
  if (Object.keys(rest).length > 0) form.annotations = rest;
  else delete form.annotations;
}

/** The field each kind of definition is named by; a resource by its URI, the discovery result by nothing. */
const NAME_FIELD: Record<Exclude<DefinitionKind, "discovery">, string> = {
  tool: "name",
  prompt: "name",
  resource: "uri",
  resource_template: "uriTemplate",
};

/** The name a definition is pinned under. */
export const nameOf = (kind: DefinitionKind, definition: Record<string, unknown>): string =>
  kind === "discovery" ? "" : String(definition[NAME_FIELD[kind]]);
