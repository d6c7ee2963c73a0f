import { describe, expect, it } from "vitest";
import { completedAudit } from "../../worker/audit/request-audit.ts";

// A session object completes a request's audit on its own clock, against the start a Worker stamped (maybe on another
// machine): a clock a few milliseconds behind must not give a negative latency, which the origin's schema refuses.
describe("completedAudit (worker/audit/request-audit.ts)", () => {
  const observation = { outcome: "ok", responseBytes: 10 } as const;

  it("never gives a negative latency when the start was stamped by a clock ahead of this one", () => {
    const audit = { kind: "mcp.request", method: "notifications/cancelled", started: Date.now() + 5 } as const;
    expect(completedAudit(audit, 202, observation)).toEqual(expect.objectContaining({ httpStatus: 202, latencyMs: 0 }));
  });

  it("gives the time since the start otherwise", () => {
    const audit = { kind: "mcp.request", method: "tools/call", started: Date.now() - 1000 } as const;
    expect(completedAudit(audit, 200, observation).latencyMs).toBeGreaterThanOrEqual(1000);
  });
});
