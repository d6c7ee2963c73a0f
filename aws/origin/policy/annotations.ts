/** The four behaviour hints of MCP's `ToolAnnotations`. */
export type AnnotationName = "readOnlyHint" | "destructiveHint" | "idempotentHint" | "openWorldHint";

/**
 * The specification's defaults for a hint a tool leaves out. They describe the riskiest tool, so a rule about
 * destructive tools also covers a tool that says nothing about itself.
 */
const DEFAULTS: Record<AnnotationName, boolean> = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};

/**
 * The value a hint has for a tool, as a policy reads it. `destructiveHint` and `idempotentHint` are meaningful
 * only for a tool that is not read-only (the specification says so), so a read-only tool is neither.
 */
export function annotationValue(annotations: Record<string, unknown> | undefined, name: AnnotationName): boolean {
  const stated = annotations?.[name];
  const value = typeof stated === "boolean" ? stated : DEFAULTS[name];
  if (name === "destructiveHint" || name === "idempotentHint") {
    return annotationValue(annotations, "readOnlyHint") ? false : value;
  }
  return value;
}
