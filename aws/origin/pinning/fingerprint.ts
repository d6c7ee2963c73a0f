import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** What the origin pins: an upstream's tools, prompts, resources, resource templates, and its discovery result. */
export type DefinitionKind = "tool" | "prompt" | "resource" | "resource_template" | "discovery";

/**
 * The fields a fingerprint leaves out, per kind: volatile ones, which change without changing what a client or model is
 * told (a resource's size, and below its lastModified annotation, change with its contents). Every other field is
 * pinned, whether this code knows it or not: icons, a tool's execution, whatever a later revision of MCP adds.
 */
const VOLATILE: Partial<Record<DefinitionKind, readonly string[]>> = { resource: ["size"] };

/** The version of what fingerprints cover: 2, the whole definition but its volatile fields. */
export const FINGERPRINT_VERSION = 2;

/**
 * The fields version 1 covered, before the whole definition was. A definition without other fields has the same
 * fingerprint in both versions; one with more (a tool's icons, say) has a version 1 fingerprint besides, by which an
 * approval made before version 2 is carried over (definition-pins.ts) instead of asked again after an upgrade.
 */
const VERSION_1_FIELDS: Record<DefinitionKind, readonly string[]> = {
  tool: ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"],
  prompt: ["name", "title", "description", "arguments", "_meta"],
  resource: ["uri", "name", "title", "description", "mimeType", "annotations", "icons", "_meta"],
  resource_template: ["uriTemplate", "name", "title", "description", "mimeType", "annotations", "_meta"],
  discovery: ["capabilities", "instructions", "serverInfo"],
};

/**
 * Per kind, the fields whose presence alone never gives a definition a fingerprint of version 1 apart from its own:
 * a stored definition with none but these needs no version 1 check (pin-store.ts reads it only otherwise).
 */
export const WITHIN_VERSION_1: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(VERSION_1_FIELDS).map(([kind, fields]) => [kind, [...fields, ...(VOLATILE[kind as DefinitionKind] ?? [])]]),
);

type PinnedForm = { form: Record<string, unknown>; fingerprint: string; version1: string };

/**
 * Fingerprints already taken, per definition object: a call checks the definition its server last listed, the same
 * object every time, so the canonical JSON and its hash are computed once per listing, not once per call. Sound because
 * nothing changes a listed definition in place (the guardrails copy what they change: guardrails/strings.ts).
 */
const taken = new WeakMap<Record<string, unknown>, Partial<Record<DefinitionKind, PinnedForm>>>();

/**
 * The pinned form of a definition (all of it but its volatile fields), its fingerprint (SHA-256 of its RFC 8785
 * canonical JSON), and its fingerprint of version 1 (the same, unless it has fields version 1 did not cover).
 */
export function pinnedForm(kind: DefinitionKind, definition: Record<string, unknown>): PinnedForm {
  const known = taken.get(definition) ?? {};
  const cached = known[kind];
  if (cached) return cached;
  const volatile = VOLATILE[kind] ?? [];
  const form = Object.fromEntries(
    Object.entries(definition).filter(([field, value]) => value !== undefined && !volatile.includes(field)),
  );
  if (kind === "resource") withoutLastModified(form);
  const fingerprint = sha256(form);
  const covered = Object.entries(form).filter(([field]) => VERSION_1_FIELDS[kind].includes(field));
  const version1 = covered.length === Object.keys(form).length ? fingerprint : sha256(Object.fromEntries(covered));
  known[kind] = { form, fingerprint, version1 };
  taken.set(definition, known);
  return known[kind];
}

const sha256 = (form: Record<string, unknown>) =>
  createHash("sha256")
    .update(canonicalize(form) ?? "")
    .digest("hex");

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
