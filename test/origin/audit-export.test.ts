import { describe, expect, it } from "vitest";
import { CSV_COLUMNS, csvCell, csvHeader, csvRecord, jsonLine, serializeEvents } from "../../aws/origin/audit/export.ts";
import type { AuditEvent } from "../../contract/audit-event.ts";

const base: AuditEvent = {
  id: "00000000-0000-4000-8000-000000000001",
  time: "2026-03-01T12:00:00.000Z",
  kind: "mcp.request",
  outcome: "error",
  latencyMs: 12.5,
};

/** What a terminal acts on (tab and LF aside): C0, DEL, C1, bidi controls, line separator. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const TERMINAL_ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028]/;

async function* pagesOf(...pages: AuditEvent[][]) {
  yield* pages;
}

async function collect(chunks: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

describe("CSV export", () => {
  it("quotes as RFC 4180 asks: commas, quotes and line breaks inside quotes, quotes doubled", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell("crlf\r\nhere")).toBe('"crlf\\u000d\nhere"'); // a lone CR would return a terminal's cursor
    expect(csvCell(undefined)).toBe("");
    expect(csvCell("")).toBe("");
  });

  it("defuses text a spreadsheet would run as a formula", () => {
    expect(csvCell('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-2+3")).toBe("'-2+3");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tcmd")).toBe("'\tcmd");
    expect(csvCell("\rcmd")).toBe("\\u000dcmd");
    expect(csvCell("a=b")).toBe("a=b");
  });

  it("writes what a terminal would act on as \\uXXXX, so a client's tool name cannot erase rows or hide as another", () => {
    // Cursor up and erase line, twice, then a window title: in a terminal, the rows printed before it disappear.
    const erasing = "store\x1b[1A\x1b[2K\x1b[1A\x1b[2K\x1b]0;nothing to see\x07";
    expect(csvCell(erasing)).toBe(String.raw`store\u001b[1A\u001b[2K\u001b[1A\u001b[2K\u001b]0;nothing to see\u0007`);
    expect(csvCell("read_file\u202Egnp.eteled")).toBe(String.raw`read_file\u202egnp.eteled`);
    expect(csvCell("a\u009b2Jb\u007f\u0000\u2066\u2069\u200f\u061c\u2028")).toBe(
      String.raw`a\u009b2Jb\u007f\u0000\u2066\u2069\u200f\u061c\u2028`,
    );
    // Escaped first, then defused: an escape cannot carry a formula start past the check, nor hide one.
    expect(csvCell("\x1b=1+1")).toBe(String.raw`\u001b=1+1`);
    expect(csvCell("=1+1\x1b")).toBe(String.raw`'=1+1\u001b`);
    expect(csvCell("-\u202e1")).toBe(String.raw`'-\u202e1`);
    // Text outside those ranges is written as it is.
    expect(csvCell("résumé 日本 ✓ \u200d")).toBe("résumé 日本 ✓ \u200d");
    const row = csvRecord({ ...base, tool: erasing, method: "tools/call\u009b", clientId: "https://x\u202e", server: "s\x1b" });
    expect(row.slice(0, -2)).not.toMatch(TERMINAL_ACTIVE);
  });

  it("writes numbers from numeric columns as numbers, negative ones too", () => {
    expect(csvCell(-32603)).toBe("-32603");
    expect(csvCell(12.5)).toBe("12.5");
  });

  it("writes a header and one CRLF-ended record per event, a cell per column", () => {
    expect(csvHeader()).toBe(`${CSV_COLUMNS.join(",")}\r\n`);
    const record = csvRecord({ ...base, userEmail: "ada@example.com", tool: "=cmd|' /C calc'!A0", errorCode: -32603 });
    expect(record).toBe(
      "00000000-0000-4000-8000-000000000001,2026-03-01T12:00:00.000Z,mcp.request,,ada@example.com,,,,'=cmd|' /C calc'!A0,error,-32603,,12.5,,,,\r\n",
    );
    expect(record.slice(0, -2).split(",")).toHaveLength(CSV_COLUMNS.length);
  });

  it("streams one chunk per page, the header first even when nothing matched", async () => {
    expect(await collect(serializeEvents(pagesOf(), "csv"))).toEqual([csvHeader()]);
    const chunks = await collect(serializeEvents(pagesOf([base, base], [base]), "csv"));
    expect(chunks).toEqual([csvHeader(), csvRecord(base) + csvRecord(base), csvRecord(base)]);
  });
});

describe("JSON export", () => {
  it("writes NDJSON: one event object per line, read back the same", async () => {
    const other = { ...base, id: "00000000-0000-4000-8000-000000000002", tool: "a\nb" };
    const text = (await collect(serializeEvents(pagesOf([base], [other]), "json"))).join("");
    expect(text.endsWith("\n")).toBe(true);
    expect(
      text
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line)),
    ).toEqual([base, other]);
    expect(jsonLine(base)).toBe(`${JSON.stringify(base)}\n`);
    expect(await collect(serializeEvents(pagesOf(), "json"))).toEqual([]);
  });

  it("escapes C1 and bidi controls too (JSON.stringify escapes only C0), reading back the same text", () => {
    const hostile = { ...base, tool: "a\x1b[2K\u009b2J\u202egnp\u2066\u2028\u007f", arguments: { "k\u202e": ["\u0085"] } };
    const line = jsonLine(hostile);
    expect(line.slice(0, -1)).not.toMatch(TERMINAL_ACTIVE);
    expect(line).toContain(String.raw`\u202egnp\u2066`);
    expect(JSON.parse(line)).toEqual(hostile);
  });
});
