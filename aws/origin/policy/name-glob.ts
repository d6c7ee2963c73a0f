/**
 * A matcher for server or tool name patterns: `*` any run of characters, `?` any one character, `{a,b}` either
 * alternative (they nest, and may hold `*` and `?`), `\` makes the next character literal. Everything else matches
 * itself, case and all.
 *
 * Names are not paths, and the policy must match every name it is given: path globbers (picomatch and its kin) keep
 * `*` and `?` from crossing `/`, from matching `.` and `..` segments and line breaks, so a deny rule would skip
 * `drop_x/../y` or `drop_x\n`, and fail open for an upstream that reads such a name as `drop_x`. This matches
 * every character alike.
 */
export function nameMatcher(patterns: string | readonly string[]): (name: string) => boolean {
  const expressions = (typeof patterns === "string" ? [patterns] : patterns).map(
    (pattern) => new RegExp(`^${translate(pattern)}$`, "su"),
  );
  return (name) => expressions.some((expression) => expression.test(name));
}

/** The regular expression source for a pattern (or for one alternative of a brace group). */
function translate(pattern: string): string {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const character = pattern[index] as string;
    if (character === "*") source += "[^]*";
    else if (character === "?") source += "[^]";
    else if (character === "\\" && index + 1 < pattern.length) source += literal(pattern[++index] as string);
    else if (character === "{") {
      const group = braceGroup(pattern, index);
      if (!group) source += literal(character);
      else {
        source += `(?:${group.alternatives.map(translate).join("|")})`;
        index = group.end;
      }
    } else source += literal(character);
  }
  return source;
}

/** The alternatives of the brace group opening at `start` and the index of its `}`, or null for a lone `{`. */
function braceGroup(pattern: string, start: number): { alternatives: string[]; end: number } | null {
  const alternatives: string[] = [];
  let depth = 0;
  let from = start + 1;
  for (let index = start + 1; index < pattern.length; index++) {
    const character = pattern[index];
    if (character === "\\") index++;
    else if (character === "{") depth++;
    else if (character === "}" && depth > 0) depth--;
    else if (character === "," && depth === 0) {
      alternatives.push(pattern.slice(from, index));
      from = index + 1;
    } else if (character === "}") {
      alternatives.push(pattern.slice(from, index));
      return { alternatives, end: index };
    }
  }
  return null;
}

const literal = (character: string) => character.replace(/[\\^$.*+?()[\]{}|]/gu, "\\$&");
