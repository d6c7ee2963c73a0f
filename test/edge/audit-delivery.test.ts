import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { deliverAuditBatch, retryDelaySeconds } from "../../worker/audit/deliver.ts";
import { testEnv } from "./edge-env.ts";

const event = (): AuditEvent => ({
  id: crypto.randomUUID(),
  time: new Date().toISOString(),
  kind: "mcp.request",
  outcome: "ok",
  latencyMs: 1,
});

describe("audit delivery to the origin", () => {
  it("keeps every event for a later attempt while the origin is down, as one batch", async () => {
    const messages = [event(), event()].map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 3, body }));
    const batch = createMessageBatch<AuditEvent>("mcp-audit", messages);
    const ctx = createExecutionContext();
    // ORIGIN_URL points at a closed port: the origin is really unreachable.
    await deliverAuditBatch(batch, testEnv({ ORIGIN_URL: "http://127.0.0.1:9" }));
    const result = await getQueueResult(batch, ctx);
    expect(result.retryBatch.retry).toBe(true);
    expect(result.ackAll).toBe(false);
    expect(result.explicitAcks).toEqual([]);
  });

  it("backs off exponentially up to an hour", () => {
    expect([1, 2, 3, 10, 50].map(retryDelaySeconds)).toEqual([2, 4, 8, 1024, 3600]);
  });
});
