/**
 * A matcher for server or tool name patterns: `*` any run of characters, `?` any one character, `{a,b}` either
 * alternative (groups nest, and may hold `*` and `?`; braces without a comma are plain text), `\` makes the next
 * character literal. Everything else matches itself, case and all.
 *
 * Names are not paths, and the policy must match every name it is given: path globbers (picomatch and its kin) keep
 * `*` and `?` from crossing `/`, from matching `.` and `..` segments and line breaks, so a deny rule would skip
 * `drop_x/../y` or `drop_x\n`, and fail open for an upstream that reads such a name as `drop_x`. And a client chooses
 * the names it calls: they are matched without backtracking regular expressions, in time proportional to the name's
 * length times the pattern's, however many stars the pattern has.
 */
export function nameMatcher(patterns: string | readonly string[]): (name: string) => boolean {
  const compiled = (typeof patterns === "string" ? [patterns] : patterns).flatMap(expandBraces).map(tokens);
  return (name) => {
    const characters = Array.from(name);
    return compiled.some((pattern) => matches(pattern, characters));
  };
}

/** A pattern with its brace groups expanded past this many alternatives is refused: a policy typo, not a need. */
const MAX_ALTERNATIVES = 1024;

type Token = { any: true } | { one: true } | { literal: string };

/** A pattern's alternatives, brace groups expanded (escapes kept for `tokens`). */
function expandBraces(pattern: string): string[] {
  for (let index = 0; index < pattern.length; index++) {
    if (pattern[index] === "\\") index++;
    else if (pattern[index] === "{") {
      const group = braceGroup(pattern, index);
      if (!group) continue;
      const rest = expandBraces(pattern.slice(group.end + 1));
      const head = pattern.slice(0, index);
      const expanded = group.alternatives.flatMap(expandBraces).flatMap((middle) => rest.map((tail) => head + middle + tail));
      if (expanded.length > MAX_ALTERNATIVES)
        throw new Error(`the name pattern "${pattern}" expands to more than ${MAX_ALTERNATIVES} alternatives`);
      return expanded;
    }
  }
  return [pattern];
}

/** The alternatives of the brace group opening at `start` and the index of its `}`; null for plain text. */
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
      return alternatives.length > 1 ? { alternatives, end: index } : null;
    }
  }
  return null;
}

function tokens(pattern: string): Token[] {
  const characters = Array.from(pattern);
  const result: Token[] = [];
  for (let index = 0; index < characters.length; index++) {
    const character = characters[index] as string;
    if (character === "*") result.push({ any: true });
    else if (character === "?") result.push({ one: true });
    else if (character === "\\" && index + 1 < characters.length) result.push({ literal: characters[++index] as string });
    else result.push({ literal: character });
  }
  return result;
}

/**
 * Wildcard matching with one remembered star: on a mismatch, the latest `*` takes one more character and matching
 * resumes after it. Earlier stars never need to be revisited, so nothing backtracks further.
 */
function matches(pattern: Token[], name: string[]): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resumeAt = 0;
  while (n < name.length) {
    const token = pattern[p];
    if (token && ("one" in token || ("literal" in token && token.literal === name[n]))) {
      p++;
      n++;
    } else if (token && "any" in token) {
      star = p++;
      resumeAt = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resumeAt;
    } else return false;
  }
  while (pattern[p] && "any" in (pattern[p] as Token)) p++;
  return p === pattern.length;
}
