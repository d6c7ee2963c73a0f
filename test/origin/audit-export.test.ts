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
    expect(csvCell("cr\rhere")).toBe('"cr\rhere"');
    expect(csvCell(undefined)).toBe("");
    expect(csvCell("")).toBe("");
  });

  it("defuses text a spreadsheet would run as a formula", () => {
    expect(csvCell('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-2+3")).toBe("'-2+3");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tcmd")).toBe("'\tcmd");
    expect(csvCell("\rcmd")).toBe('"\'\rcmd"');
    expect(csvCell("a=b")).toBe("a=b");
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
});
