import { describe, expect, it } from "vitest";
import { OPS_WINDOWS, type OpsStats } from "../../contract/ops-stats.ts";
import { dashboardPage } from "../../worker/ops/pages/dashboard.ts";

// The traffic page's figures as it writes them, from a source's answer (no origin, no Analytics Engine).

const figures = (calls: number, errors = 0) => ({ calls, errors, p50Ms: calls ? 12 : null, p95Ms: calls ? 40 : null });

function stats(servers: OpsStats["servers"], totals = figures(3)): OpsStats {
  return {
    window: "1h",
    until: new Date().toISOString(),
    totals,
    series: Array.from({ length: OPS_WINDOWS["1h"].seconds / OPS_WINDOWS["1h"].bucketSeconds }, (_, index) => ({
      start: new Date(Date.now() - (12 - index) * 300_000).toISOString(),
      calls: 0,
      errors: 0,
    })),
    servers,
    tools: [],
    auth: { attempts: 10, failures: 0 },
    topUsers: [],
    topClients: [],
    rateLimited: { auth: 0, mcp: 0 },
    deliveryLag: null,
  };
}

async function pageOf(figuresRead: OpsStats): Promise<string> {
  const response = dashboardPage({
    company: "Example",
    user: { sub: "admin-1", email: "ops@example.com", groups: [] },
    window: "1h",
    stats: figuresRead,
    tail: [],
    sourceDescription: "test figures",
    csrf: "csrf-token",
    auditQueues: { state: "local", reason: "test" },
  });
  return response.text();
}

/** The per-server table's rows, each as its cells' text and class. */
function serverRows(html: string): { text: string; bad: boolean }[][] {
  const table = /<table><caption>Calls per server<\/caption>.*?<\/table>/s.exec(html)?.[0] ?? "";
  const rows = [...table.matchAll(/<tr>(.*?)<\/tr>/gs)].map((row) => row[1] ?? "");
  return rows.map((row) =>
    [...row.matchAll(/<t[dh]([^>]*)>(.*?)<\/t[dh]>/gs)].map((cell) => ({
      text: cell[2] ?? "",
      bad: /class="[^"]*\bbad\b/.test(cell[1] ?? ""),
    })),
  );
}

describe("the traffic page's Per server table", () => {
  it("counts the servers left out of /mcp answers, red above 0, a server only ever left out included (s24 hunt observability F4)", async () => {
    const html = await pageOf(
      stats([
        { server: "*", ...figures(2), leftOut: 0 },
        { server: "github", ...figures(1), leftOut: 1 },
        { server: "nobin", ...figures(0), leftOut: 2 },
      ]),
    );
    const [head, ...rows] = serverRows(html);
    expect(head?.map((cell) => cell.text)).toEqual(["Server", "Calls", "Error rate", "p50", "p95", "Left out of /mcp"]);
    expect(rows.map((row) => [row[0]?.text, row.at(-1)?.text, row.at(-1)?.bad])).toEqual([
      ["*", "0", false],
      ["github", "1", true],
      ["nobin", "2", true],
    ]);
  });

  it("says so when its source cannot tell (Analytics Engine), rather than showing 0", async () => {
    const html = await pageOf(stats([{ server: "github", ...figures(1), leftOut: null }]));
    const [head] = serverRows(html);
    expect(head?.map((cell) => cell.text)).not.toContain("Left out of /mcp");
    expect(html).toContain("This source does not record servers left out of <code>/mcp</code> answers.");
  });
});

describe("the traffic page's summary", () => {
  it("says its Calls, Error rate and Latency count requests that do work, and how many session requests it left out (s24 hunt observability F12)", async () => {
    const html = await pageOf({ ...stats([]), totals: figures(4, 1), bookkeeping: 305 });
    const tile = (label: string) => new RegExp(`<dt>${label}</dt>(.*?)</dd>`, "s").exec(html)?.[1] ?? "";
    expect(tile("Calls")).toContain(
      "MCP requests that do work (tool calls, reads, prompts, lists, completions); 305 session requests (initialize, notifications, streams) not counted",
    );
    expect(tile("Error rate")).toContain("1 of these calls not ok");
    expect(tile("Latency")).toContain("p50 / p95 of these calls");
  });
});
