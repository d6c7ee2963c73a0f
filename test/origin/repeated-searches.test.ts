import { describe, expect, it } from "vitest";
import { REPEAT_WINDOW_MS, RepeatedSearches } from "../../aws/origin/audit/repeated-searches.ts";

describe("RepeatedSearches", () => {
  it("is due again once the window since its record has passed, and never before it was recorded", () => {
    const searches = new RepeatedSearches();
    expect(searches.due("admin-1", "?kind=mcp.request", 0)).toBe(true);
    expect(searches.due("admin-1", "?kind=mcp.request", 1)).toBe(true); // asked, not recorded
    searches.recorded("admin-1", "?kind=mcp.request", 1);
    expect(searches.due("admin-1", "?kind=mcp.request", REPEAT_WINDOW_MS)).toBe(false);
    expect(searches.due("admin-1", "?kind=mcp.request", REPEAT_WINDOW_MS + 1)).toBe(true);
  });

  it("tells administrators and queries apart, however their text could be joined", () => {
    const searches = new RepeatedSearches();
    searches.recorded("admin-1", "?a", 0);
    expect(searches.due("admin-1?", "a", 1)).toBe(true);
    expect(searches.due("admin-2", "?a", 1)).toBe(true);
  });

  it("forgets the oldest past a thousand remembered: it is recorded again, never served unrecorded", () => {
    const searches = new RepeatedSearches();
    for (let n = 0; n <= 1_000; n++) searches.recorded("admin-1", `?n=${n}`, 0);
    expect(searches.due("admin-1", "?n=0", 1)).toBe(true);
    expect(searches.due("admin-1", "?n=1", 1)).toBe(false);
  });
});
