import { describe, expect, it } from "vitest";
import { UnreadOutput } from "../../aws/origin/hosting/unread-output.ts";

// The bound on what one response holds unread is in bytes, as the client's reads are counted: a message of non-ASCII
// text takes up to three bytes a UTF-16 character on the wire, so counting characters would hold about three times it.

/** How many messages with these params are admitted before the first is dropped, nothing being read. */
function admittedUntilDropped(output: UnreadOutput, params: unknown): number {
  let admitted = 0;
  while (output.admit(params)) admitted++;
  return admitted;
}

const LIMIT = 16 * 1024;
const lines: string[] = [];
const log = (line: string) => lines.push(line);

describe("a response's unread log and progress messages", () => {
  it("are bounded by their bytes, not their characters: CJK text stops after as many bytes as ASCII text", () => {
    // 300 characters each: 300 bytes of ASCII, 900 bytes of CJK (3 bytes a character in UTF-8).
    const ascii = { level: "info", data: "a".repeat(900) };
    const cjk = { level: "info", data: "語".repeat(300) };
    expect(Buffer.byteLength(JSON.stringify(cjk))).toBe(Buffer.byteLength(JSON.stringify(ascii)));
    expect(JSON.stringify(cjk).length).toBeLessThan(JSON.stringify(ascii).length / 2);
    const asciiAdmitted = admittedUntilDropped(new UnreadOutput(log, LIMIT), ascii);
    const cjkAdmitted = admittedUntilDropped(new UnreadOutput(log, LIMIT), cjk);
    expect(asciiAdmitted).toBeGreaterThan(5);
    expect(cjkAdmitted).toBe(asciiAdmitted);
  });

  it("admit again as many bytes as the client read", () => {
    const cjk = { data: "語".repeat(1000) };
    const bytes = Buffer.byteLength(JSON.stringify(cjk));
    const output = new UnreadOutput(log, LIMIT);
    const admitted = admittedUntilDropped(output, cjk);
    expect(admitted).toBe(Math.floor(LIMIT / (bytes + 120)));
    // Reading one message's worth of bytes frees room for exactly one more.
    output.read(bytes + 120);
    expect([output.admit(cjk), output.admit(cjk)]).toEqual([true, false]);
    expect(output.dropped).toBe(2);
  });
});

describe("whether a client has stopped keeping up", () => {
  it("is so once a message was dropped, until it reads again or a message is queued again", () => {
    const output = new UnreadOutput(log, LIMIT);
    const message = { data: "a".repeat(1000) };
    expect(output.behind).toBe(false);
    admittedUntilDropped(output, message);
    expect(output.behind).toBe(true);
    expect(output.admit(message)).toBe(false);
    expect(output.behind).toBe(true);
    output.read(1);
    expect(output.behind).toBe(false);
    admittedUntilDropped(output, message);
    expect(output.behind).toBe(true);
    output.read(LIMIT);
    expect([output.admit(message), output.behind]).toEqual([true, false]);
  });
});
