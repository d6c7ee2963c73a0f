import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { AuditEvent, AuditQueueMessage } from "../../contract/audit-event.ts";
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

  it("unpacks batched messages and posts at most 500 events per request, then acknowledges", async () => {
    const ingest = inject("ingestUrl");
    const before = ((await (await fetch(`${ingest}/posts`)).json()) as number[]).length;
    const bodies: AuditQueueMessage[] = [Array.from({ length: 600 }, event), event()];
    const messages = bodies.map((body, index) => ({ id: `b${index}`, timestamp: new Date(), attempts: 1, body }));
    const batch = createMessageBatch<AuditQueueMessage>("mcp-audit", messages);
    const ctx = createExecutionContext();
    await deliverAuditBatch(batch, testEnv({ ORIGIN_URL: ingest }));
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(true);
    expect(((await (await fetch(`${ingest}/posts`)).json()) as number[]).slice(before)).toEqual([500, 101]);
  });

  it("sends again only the messages holding events the origin refused, and acknowledges the rest", async () => {
    const future = { ...event(), kind: "future.kind" } as unknown as AuditEvent;
    const bodies: AuditQueueMessage[] = [event(), [event(), future], event()];
    const messages = bodies.map((body, index) => ({ id: `r${index}`, timestamp: new Date(), attempts: 2, body }));
    const batch = createMessageBatch<AuditQueueMessage>("mcp-audit", messages);
    const ctx = createExecutionContext();
    await deliverAuditBatch(batch, testEnv({ ORIGIN_URL: inject("ingestUrl") }));
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.explicitAcks.sort()).toEqual(["r0", "r2"]);
    expect(result.retryMessages.map((retried) => retried.msgId)).toEqual(["r1"]);
  });

  it("backs off exponentially up to an hour", () => {
    expect([1, 2, 3, 10, 50].map(retryDelaySeconds)).toEqual([2, 4, 8, 1024, 3600]);
  });
});
