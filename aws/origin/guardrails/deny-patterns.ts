import { RE2JS } from "re2js";
import { z } from "zod";
import type { GuardrailKind } from "./hook.ts";
import { GuardrailRefusal } from "./refusal.ts";
import { stringsOf } from "./strings.ts";

/**
 * Patterns run on arguments a user chooses (megabytes of them), so they run on RE2, whose matching time is linear in
 * the text: a backtracking engine lets a pattern like `curl[^|]*\|\s*sh` take minutes on one crafted argument, and
 * stall every user of the origin meanwhile. RE2 has JavaScript's syntax (its escapes such as `\u200b` translated)
 * without lookaround and backreferences; its `\s` is ASCII whitespace only.
 */
const compile = (pattern: string) => RE2JS.compile(RE2JS.translateRegExp(pattern), RE2JS.CASE_INSENSITIVE);

const Options = z.strictObject({
  /** Regular expressions (RE2 syntax, case-insensitive); a call whose arguments contain a match is refused. */
  patterns: z
    .array(
      z.string().refine((pattern) => {
        try {
          compile(pattern);
          return true;
        } catch {
          return false;
        }
      }, "expected a regular expression in RE2 syntax (JavaScript's without lookaround or backreferences, which can make a match take unbounded time)"),
    )
    .min(1),
});

/** Refuses, before the upstream sees it, a call any of whose argument strings (or keys) matches a pattern. */
export const denyPatterns: GuardrailKind<typeof Options> = {
  options: Options,
  create: ({ patterns }) => {
    const compiled = patterns.map(compile);
    return {
      name: "deny-patterns",
      arguments: (call, args) => {
        for (const text of stringsOf(args)) {
          const index = compiled.findIndex((pattern) => pattern.test(text));
          if (index >= 0)
            throw new GuardrailRefusal("deny-patterns", `an argument of "${call.name}" matches the pattern ${patterns[index]}`);
        }
        return args;
      },
    };
  },
};
