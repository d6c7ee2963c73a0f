import { describe, expect, it } from "vitest";
import { formatAnswerRoute } from "../../contract/answer-outcome.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { auditedTarget, reroutedAudit } from "../../worker/mcp/audited-target.ts";

// Where an audit row says a request went. On `/mcp` the origin's route label decides, but only when it names a
// configured server: a label is a header the edge reads back, and a row must never name a server that does not exist.
const SERVERS = ["docs", "files"];
const held = { server: ALL_SERVERS, tool: "docs__search", method: "tools/call" };

describe("the audited target of a request on the aggregated endpoint", () => {
  it("takes the server and the upstream's own name from the origin's route", () => {
    expect(auditedTarget(ALL_SERVERS, { tool: "docs__search" }, SERVERS, { server: "docs", name: "search" })).toEqual({
      server: "docs",
      tool: "search",
    });
    expect(reroutedAudit(held, formatAnswerRoute({ server: "docs", name: "search" }), SERVERS)).toEqual({
      ...held,
      server: "docs",
      tool: "search",
    });
  });

  it("keeps a held audit as it was when the route names a server that is not configured", () => {
    expect(reroutedAudit(held, formatAnswerRoute({ server: "payroll", name: "export" }), SERVERS)).toBe(held);
    expect(auditedTarget(ALL_SERVERS, { tool: "docs__search" }, SERVERS, { server: "payroll", name: "x" })).toEqual({
      server: "docs",
      tool: "search",
    });
  });

  it("keeps a held audit as it was when the route is absent or not one the origin writes", () => {
    for (const route of [undefined, "", "docs search extra", "docs %E0%A4%A"]) {
      expect(reroutedAudit(held, route, SERVERS), String(route)).toBe(held);
    }
  });

  it("reads the server from the public name when the request was refused before it was routed", () => {
    expect(auditedTarget(ALL_SERVERS, { tool: "files__read" }, SERVERS)).toEqual({ server: "files", tool: "read" });
    expect(auditedTarget(ALL_SERVERS, { tool: "nobody__read" }, SERVERS)).toEqual({ server: ALL_SERVERS, tool: "nobody__read" });
  });
});
