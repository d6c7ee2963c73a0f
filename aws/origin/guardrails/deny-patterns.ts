import { z } from "zod";
import type { GuardrailKind } from "./hook.ts";
import { GuardrailRefusal } from "./refusal.ts";
import { stringsOf } from "./strings.ts";

const Options = z.strictObject({
  /** Regular expressions (JavaScript syntax, case-insensitive); a call whose arguments contain a match is refused. */
  patterns: z
    .array(
      z.string().refine((pattern) => {
        try {
          new RegExp(pattern, "i");
          return true;
        } catch {
          return false;
        }
      }, "expected a JavaScript regular expression"),
    )
    .min(1),
});

/** Refuses, before the upstream sees it, a call any of whose argument strings (or keys) matches a pattern. */
export const denyPatterns: GuardrailKind<typeof Options> = {
  options: Options,
  create: ({ patterns }) => {
    const compiled = patterns.map((pattern) => new RegExp(pattern, "i"));
    return {
      name: "deny-patterns",
      arguments: (call, args) => {
        for (const text of stringsOf(args)) {
          const index = compiled.findIndex((pattern) => pattern.test(text));
          if (index >= 0)
            throw new GuardrailRefusal("deny-patterns", `an argument of "${call.tool}" matches the pattern ${patterns[index]}`);
        }
        return args;
      },
    };
  },
};
