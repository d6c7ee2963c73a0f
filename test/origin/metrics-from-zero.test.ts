import { Hono, type MiddlewareHandler } from "hono";
import { Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { registerAuditIngestRoute } from "../../aws/origin/audit/ingest-route.ts";
import { auditIngestMetrics, ORIGIN_RECORDED_KINDS } from "../../aws/origin/metrics/audit.ts";
import { unpinnedResourceMetrics } from "../../aws/origin/metrics/pins.ts";
import { createOriginMetrics } from "../../aws/origin/metrics/registry.ts";
import type { AssertionVariables } from "../../aws/origin/trust/require-assertion.ts";
import { AUDIT_INGEST_PATH } from "../../contract/audit-event.ts";

// A series that appears with the value 1 has no earlier sample, so Prometheus' increase() and rate() never see its
// first event: the origin's bounded label values exist from the start, at 0 (s24 hunt observability F17).

/** The exposition line of one series, as a fresh registry writes it. */
const line = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .join(",")}} 0`;

describe("a fresh origin's metrics", () => {
  it("expose every lost-audit kind, every configured server's unpinned resources and its error statuses at 0", async () => {
    const metrics = createOriginMetrics({ servers: ["github", "docs"] });
    unpinnedResourceMetrics(metrics.registry, ["github", "docs"]);
    const text = await metrics.registry.metrics();
    for (const kind of ORIGIN_RECORDED_KINDS) expect(text).toContain(line("mcp_origin_audit_events_lost_total", { kind }));
    expect(ORIGIN_RECORDED_KINDS).toContain("mcp.approval");
    for (const server of ["github", "docs"]) {
      expect(text).toContain(line("mcp_origin_unpinned_resources_total", { server }));
      for (const status of ["401", "421", "500", "502", "503", "504"])
        expect(text).toContain(line("mcp_origin_requests_total", { server, status }));
    }
    // The aggregated endpoint's and unknown servers' too.
    expect(text).toContain(line("mcp_origin_requests_total", { server: "*", status: "503" }));
    expect(text).toContain(line("mcp_origin_requests_total", { server: "_unknown", status: "401" }));
  });
});

describe("the audit ingest's received count", () => {
  it("counts nothing for a batch whose insert failed: the edge sends it again (s24 hunt observability F16)", async () => {
    const registry = new Registry();
    const app = new Hono<{ Variables: AssertionVariables }>();
    const asEdge: MiddlewareHandler<{ Variables: AssertionVariables }> = async (c, next) => {
      c.set("assertion", { purpose: "audit-delivery" } as AssertionVariables["assertion"]);
      await next();
    };
    const failing = { insert: async () => Promise.reject(new Error("statement timeout")) };
    registerAuditIngestRoute(app, asEdge, failing, auditIngestMetrics(registry));
    const event = { id: crypto.randomUUID(), time: new Date().toISOString(), kind: "mcp.request", outcome: "ok", latencyMs: 1 };
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const answer = await app.request(AUDIT_INGEST_PATH, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: [event] }),
      });
      expect(answer.status).toBeGreaterThanOrEqual(500);
    } finally {
      quiet.mockRestore();
    }
    expect(await registry.metrics()).toContain("mcp_origin_audit_events_received_total 0");
  });
});
