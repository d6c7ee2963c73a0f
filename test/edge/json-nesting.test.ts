import { describe, expect, it } from "vitest";
import { inspectRequest, MAX_NESTING_DEPTH, nestsDeeperThan } from "../../worker/mcp/inspect-request.ts";

// The edge's bound on how deep a request nests (s21 insider I4): counted over the text, without recursion.
const call = (argument: string) =>
  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"x":${argument}}}}`;
/** `levels` arrays, each inside the last: the call nests `levels + 3` deep (the message, params, arguments). */
const arrays = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

describe("how deep a request nests", () => {
  it("is the depth of its deepest array or object: up to the bound passes, one more does not", () => {
    expect(nestsDeeperThan(call(arrays(MAX_NESTING_DEPTH - 3)), MAX_NESTING_DEPTH)).toBe(false);
    expect(nestsDeeperThan(call(arrays(MAX_NESTING_DEPTH - 2)), MAX_NESTING_DEPTH)).toBe(true);
    expect(nestsDeeperThan('[{"a":[]},{"b":{}}]', 3)).toBe(false);
    expect(nestsDeeperThan('[{"a":[]},{"b":{}}]', 2)).toBe(true);
  });

  it("counts no bracket inside a string, whatever its escapes", () => {
    const strings = ['"[[[["', '"\\"[[[["', '"\\\\"', '"a\\\\\\"[["', '"{{{\\\\"'];
    for (const text of strings) expect(JSON.parse(text), text).toBeTypeOf("string");
    expect(nestsDeeperThan(`[${strings.join(",")}]`, 1)).toBe(false);
    expect(nestsDeeperThan(call(JSON.stringify("[".repeat(10_000))), MAX_NESTING_DEPTH)).toBe(false);
    // After an escaped backslash the quote closes the string: the brackets past it count.
    expect(nestsDeeperThan('["\\\\",[[]]]', 2)).toBe(true);
  });

  it("takes 200,000 levels without a stack (a recursive walk overflows there), quickly", () => {
    const started = performance.now();
    expect(nestsDeeperThan(call(arrays(200_000)), MAX_NESTING_DEPTH)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("is a fact of the request (a batch's too), and an ordinary request is not too deep", () => {
    const headers = new Headers();
    expect(inspectRequest(call(arrays(MAX_NESTING_DEPTH)), headers)).toMatchObject({ tool: "echo", tooDeep: true });
    expect(inspectRequest(`[${call(arrays(MAX_NESTING_DEPTH))}]`, headers)).toMatchObject({ method: "batch", tooDeep: true });
    expect(inspectRequest(call('{"a":[1,{"b":"]]]}"}]}'), headers).tooDeep).toBeUndefined();
  });
});
