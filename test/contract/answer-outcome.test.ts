import { describe, expect, it } from "vitest";
import { formatAnswerOutcome, outcomeOfAnswer, parseAnswerOutcome } from "../../contract/answer-outcome.ts";

describe("the outcome of a JSON-RPC answer", () => {
  it("tells a success, a tool's error and a JSON-RPC error (with its code) apart", () => {
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"result":{"content":[]}}')).toEqual({ outcome: "ok" });
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"result":{"isError":true}}')).toEqual({ outcome: "tool_error" });
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}')).toEqual({
      outcome: "error",
      errorCode: -32601,
    });
  });

  it("is denied for a refusal by policy: a rule that denies (-32003) or a spent limit (-32008), and no other code", () => {
    for (const code of [-32003, -32008]) {
      expect(outcomeOfAnswer(`{"jsonrpc":"2.0","id":1,"error":{"code":${code},"message":"refused by policy"}}`)).toEqual({
        outcome: "denied",
        errorCode: code,
      });
    }
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"error":{"code":-32006,"message":"not approved"}}')?.outcome).toBe("error");
  });

  it("is unavailable for the origin's error for a request the upstream never answered, error for the upstream's own -32000 (s24 hunt observability F6)", () => {
    const unanswered =
      '{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"the upstream server did not answer in time","data":{"upstreamUnanswered":true}}}';
    expect(outcomeOfAnswer(unanswered)).toEqual({ outcome: "unavailable", errorCode: -32000 });
    expect(
      outcomeOfAnswer(
        '{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"quota exceeded","data":{"upstreamUnanswered":"yes"}}}',
      ),
    ).toEqual({
      outcome: "error",
      errorCode: -32000,
    });
  });

  it("is cancelled for the answer to a request its client cancelled (-32800), the code the edge answers it with", () => {
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"error":{"code":-32800,"message":"cancelled by the client"}}')).toEqual({
      outcome: "cancelled",
      errorCode: -32800,
    });
  });

  it("is no answer for another id, a request of the server's that reuses the id, or text that is not JSON", () => {
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":2,"result":{}}', 1)).toBeUndefined();
    expect(outcomeOfAnswer('{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}}', 1)).toBeUndefined();
    expect(outcomeOfAnswer("not json")).toBeUndefined();
    expect(outcomeOfAnswer("null")).toBeUndefined();
  });

  it("travels in a header and back unchanged", () => {
    for (const outcome of [{ outcome: "ok" as const }, { outcome: "error" as const, errorCode: -32021 }]) {
      expect(parseAnswerOutcome(formatAnswerOutcome(outcome))).toEqual(outcome);
    }
  });

  it("ignores a header that is absent or not what the origin writes", () => {
    for (const value of [null, "", "great", "ok x", "error 1.5", "OK"]) expect(parseAnswerOutcome(value)).toBeUndefined();
  });
});
