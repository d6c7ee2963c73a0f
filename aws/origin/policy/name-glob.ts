import picomatch from "picomatch";

/**
 * A matcher for server or tool name patterns. `bash` mode lets `*` match any character, `/` and `.` included:
 * these are names, not paths. The matcher takes one argument only (picomatch's second one changes its answer
 * into an object, which `Array.prototype.some` would pass it by accident).
 */
export function nameMatcher(patterns: string | readonly string[]): (name: string) => boolean {
  const matches = picomatch(patterns as string | string[], { bash: true, dot: true });
  return (name) => matches(name);
}
