import { describe, expect, it } from "vitest";
import { ANSWER_WITHIN_META_KEY, answerWithinOf, withAnswerWithin } from "../../contract/answer-within.ts";

describe("the answer deadline of an input_required result", () => {
  it("is set beside the result's own _meta, and never lengthened by a later, longer one", () => {
    const result = { resultType: "input_required", _meta: { "example.com/trace": "t" } };
    const sealed = withAnswerWithin(result, 300_000);
    expect(sealed._meta).toEqual({ "example.com/trace": "t", [ANSWER_WITHIN_META_KEY]: 300_000 });
    expect(answerWithinOf(withAnswerWithin(sealed, 600_000))).toBe(300_000);
    expect(answerWithinOf(withAnswerWithin(sealed, 60_000))).toBe(60_000);
    expect(result._meta).toEqual({ "example.com/trace": "t" });
  });

  it("is not read from a value that is no usable duration", () => {
    for (const value of [0, -5, "600000", Number.NaN, Number.POSITIVE_INFINITY, null]) {
      expect(answerWithinOf({ _meta: { [ANSWER_WITHIN_META_KEY]: value } })).toBeUndefined();
    }
    expect(answerWithinOf({ _meta: [] })).toBeUndefined();
    expect(answerWithinOf({})).toBeUndefined();
  });
});
