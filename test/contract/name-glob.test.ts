import { describe, expect, it } from "vitest";
import { nameMatcher } from "../../contract/name-glob.ts";

// Policy patterns for server and tool names. A deny rule is only as good as its pattern: whatever characters a
// client puts in a name, `*` and `?` must match them, or the rule skips that name and fails open.

describe("name patterns", () => {
  it.each([
    ["search*", "search_issues", true],
    ["search*", "searc", false],
    ["docs-*", "docs-internal", true],
    ["*", "", true],
    ["d?op", "drop", true],
    ["d?op", "dop", false],
    ["{list,get}_*", "get_user", true],
    ["{list,get}_*", "put_user", false],
    ["{a,b{c,d}}", "bd", true],
    ["x{", "x{", true],
    ["x{a}", "x{a}", true],
    ["x{a}", "xa", false],
    ["{a,{b,c}d}_*", "cd_1", true],
    ["\\{a,b}", "{a,b}", true],
    ["a\\*", "a*", true],
    ["a\\*", "ab", false],
    ["drop_.*", "drop_x", false],
    ["Search", "search", false],
  ])("%j against %j: %s", (pattern, name, expected) => {
    expect(nameMatcher(pattern)(name)).toBe(expected);
  });

  it.each([
    ["drop_*", "drop_x/../y"],
    ["drop_*", "drop_x/./y"],
    ["drop_*", "drop_x\n"],
    ["drop_*", "drop_x\u2028"],
    ["drop_*", "drop_.hidden"],
    ["*", "a/../b"],
    ["*", "x\ny"],
    ["d?op", "d/op"],
    ["d?op", "d\nop"],
    ["drop_?", "drop_😀"],
  ])("%j matches %j: a wildcard matches any character, path separators and line breaks included", (pattern, name) => {
    expect(nameMatcher(pattern)(name)).toBe(true);
  });

  it("matches a long name against a pattern of many stars in linear time (a client chooses the names it calls)", () => {
    // A backtracking regular expression (what this replaces) does not finish on this input in any time a test has.
    const name = `${"a".repeat(200_000)}c`;
    expect(nameMatcher("*a*a*a*a*a*a*b")(name)).toBe(false);
    expect(nameMatcher("*a*a*a*a*a*a*c")(name)).toBe(true);
  });

  it("refuses a pattern whose brace groups expand past 1024 alternatives", () => {
    expect(() => nameMatcher("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}")).toThrow(/more than 1024 alternatives/);
  });

  it("matches when any of several patterns does", () => {
    const matches = nameMatcher(["github", "docs-*"]);
    expect([matches("github"), matches("docs-a"), matches("gitlab")]).toEqual([true, true, false]);
  });
});
