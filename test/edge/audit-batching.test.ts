import { describe, expect, it, vi } from "vitest";
import { type AuditEvent, MAX_AUDIT_ARGUMENTS_BYTES, MAX_AUDIT_TEXT_BYTES } from "../../contract/audit-event.ts";
import { NOT_QUEUED_KIND } from "../../worker/analytics/not-queued.ts";
import { recordAudit } from "../../worker/audit/record.ts";
import { testEnv } from "./edge-env.ts";

/**
 * A queue that records each `sendBatch` call, an audit spool that records what it is given to keep (or, `spool:
 * "unreachable"`, throws as an object that cannot be reached), and a context that collects what the edge waits for.
 */
function recordingQueue(refusals = 0, { spool = "keeps" }: { spool?: "keeps" | "unreachable" } = {}) {
  const batches: AuditEvent[][] = [];
  const spooled: AuditEvent[][] = [];
  let refused = 0;
  const queue = {
    send: async (body: AuditEvent[]) => {
      batches.push(body);
      if (refused++ < refusals) throw new Error("queue unavailable");
    },
  };
  const spoolObject = {
    keep: async (events: AuditEvent[]) => {
      if (spool === "unreachable") throw new Error("Durable Object unavailable");
      spooled.push(events);
      return true;
    },
  };
  const waits: Promise<unknown>[] = [];
  return {
    batches,
    spooled,
    env: testEnv({ AUDIT_QUEUE: queue, AUDIT_SPOOL: { idFromName: (name: string) => name, get: () => spoolObject } }),
    ctx: { waitUntil: (promise: Promise<unknown>) => waits.push(promise) },
    settled: () => Promise.all(waits),
  };
}

const facts = (n: number) => ({ kind: "mcp.request" as const, outcome: "ok" as const, method: `tools/call ${n}`, latencyMs: 1 });

describe("audit events are queued in batches", () => {
  it("sends the events of one window in one batch, once, whichever request's window ends first", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    for (let n = 0; n < 5; n++) recordAudit(env, ctx, facts(n));
    recordAudit(env, ctx, Promise.resolve(facts(5)));
    await settled();
    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((event) => event.method)).toEqual([0, 1, 2, 3, 4, 5].map((n) => `tools/call ${n}`));
    expect(new Set(batches[0]?.map((event) => event.id)).size).toBe(6);
  });

  it("keeps a batch (one queue message) within 100 events", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    for (let n = 0; n < 250; n++) recordAudit(env, ctx, facts(n));
    await settled();
    expect(batches.map((batch) => batch.length)).toEqual([100, 100, 50]);
  });

  it("keeps a batch within a queue message's 128 KB", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    const large = "x".repeat(MAX_AUDIT_TEXT_BYTES);
    for (let n = 0; n < 100; n++) recordAudit(env, ctx, { ...facts(n), tool: large, userEmail: large, clientId: large });
    await settled();
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) expect(JSON.stringify(batch).length).toBeLessThan(128 * 1024);
    expect(batches.flat()).toHaveLength(100);
  });

  it("counts a batch's size in bytes, not characters: text in other scripts takes up to three bytes a character", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    const large = "監".repeat(MAX_AUDIT_TEXT_BYTES);
    for (let n = 0; n < 60; n++) recordAudit(env, ctx, { ...facts(n), tool: large, userEmail: large, clientId: large });
    await settled();
    for (const batch of batches) expect(new TextEncoder().encode(JSON.stringify(batch)).length).toBeLessThan(128 * 1024);
    expect(batches.flat()).toHaveLength(60);
  });

  it("cuts long text by UTF-8 bytes, under the origin's index limit, between characters and marking the cut", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    recordAudit(env, ctx, { ...facts(1), tool: "監".repeat(5000), userEmail: `${"x".repeat(5000)}@example.com` });
    await settled();
    const event = batches[0]?.[0] as AuditEvent;
    for (const text of [event.tool, event.userEmail] as string[]) {
      expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(MAX_AUDIT_TEXT_BYTES);
      expect(text.length).toBeGreaterThan(300); // most of the room is kept
    }
    expect(event.tool).toMatch(/^監+…\[truncated from 5000 characters\]$/);
    expect(event.userEmail).toMatch(/^x+…\[truncated from 5012 characters\]$/);
  });

  it("keeps an event of the longest text and arguments within half a queue message, even JSON-escaped", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    const text = "\u0001".repeat(5000); // 6 bytes a character in JSON
    const fields = ["userSub", "userEmail", "clientId", "server", "method", "tool", "protocolVersion"] as const;
    const arguments_ = { text: "\u0001".repeat(MAX_AUDIT_ARGUMENTS_BYTES) };
    recordAudit(env, ctx, { ...facts(1), ...Object.fromEntries(fields.map((field) => [field, text])), arguments: arguments_ });
    await settled();
    expect(new TextEncoder().encode(JSON.stringify(batches[0])).length).toBeLessThan(64 * 1024);
  });

  it("cuts long text without leaving half of a surrogate pair (it would be stored other than it was hashed)", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    for (let shift = 0; shift < 4; shift++)
      recordAudit(env, ctx, { ...facts(1), tool: `${"x".repeat(shift)}${"😀".repeat(2000)}` });
    await settled();
    for (const event of batches.flat()) expect(event.tool).toMatch(/^x{0,3}(😀)+…\[truncated from 400\d characters\]$/u);
  });

  it("keeps a lone surrogate a client sent within the bound, as U+FFFD", async () => {
    const { batches, env, ctx, settled } = recordingQueue();
    recordAudit(env, ctx, { ...facts(1), tool: "\ud800".repeat(2000) });
    await settled();
    const tool = batches[0]?.[0]?.tool as string;
    // Numbers and a boolean first: a failure message holding a lone surrogate would break the runner's connection.
    expect(new TextEncoder().encode(tool).length).toBeLessThanOrEqual(MAX_AUDIT_TEXT_BYTES);
    expect(/\p{Cs}/u.test(tool)).toBe(false);
    expect(tool).toMatch(/^\ufffd+…\[truncated from 2000 characters\]$/);
  });

  it("sends again after a refusal: a blip of the queue loses no event and logs nothing", async () => {
    const { batches, env, ctx, settled } = recordingQueue(1);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    recordAudit(env, ctx, facts(1));
    await settled();
    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual(batches[0]);
    expect(logged).not.toHaveBeenCalled();
    logged.mockRestore();
  });

  it("a failed send is logged by event id and fails no request", async () => {
    const { batches, env, ctx, settled } = recordingQueue(Number.POSITIVE_INFINITY);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    recordAudit(env, ctx, { ...facts(1), userEmail: "someone@example.com" });
    await expect(settled()).resolves.toBeDefined();
    const id = batches[0]?.[0]?.id as string;
    expect(logged).toHaveBeenCalledWith(expect.stringContaining(id));
    expect(String(logged.mock.calls[0]?.[0])).not.toContain("someone@example.com");
    logged.mockRestore();
  });

  it("gives the events of a send the queue refused every time to the audit spool, whole, and counts none as lost", async () => {
    const { batches, spooled, env, ctx, settled } = recordingQueue(Number.POSITIVE_INFINITY);
    const points: AnalyticsEngineDataPoint[] = [];
    Object.assign(env, { ANALYTICS: { writeDataPoint: (point: AnalyticsEngineDataPoint) => points.push(point) } });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (let n = 0; n < 3; n++) recordAudit(env, ctx, facts(n));
      await settled();
      expect(String(logged.mock.calls[0]?.[0])).toContain("the audit spool keeps them and tries again");
    } finally {
      logged.mockRestore();
    }
    expect(batches).toHaveLength(3); // one batch, three attempts
    expect(spooled).toEqual([batches[0]]);
    expect(points.filter((point) => point.blobs?.[0] === NOT_QUEUED_KIND)).toEqual([]);
  });

  it("counts the events of a send the queue refused every time in Analytics Engine when the spool cannot keep them", async () => {
    const { env, ctx, settled } = recordingQueue(Number.POSITIVE_INFINITY, { spool: "unreachable" });
    const points: AnalyticsEngineDataPoint[] = [];
    Object.assign(env, { ANALYTICS: { writeDataPoint: (point: AnalyticsEngineDataPoint) => points.push(point) } });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (let n = 0; n < 3; n++) recordAudit(env, ctx, { ...facts(n), userEmail: "someone@example.com" });
      await settled();
      expect(String(logged.mock.calls[0]?.[0])).toMatch(/; lost$/);
    } finally {
      logged.mockRestore();
    }
    const notQueued = points.filter((point) => point.blobs?.[0] === NOT_QUEUED_KIND);
    expect(notQueued).toEqual([expect.objectContaining({ indexes: [NOT_QUEUED_KIND] })]);
    expect(notQueued[0]?.doubles?.[5]).toBe(3); // double6: the events it stands for
    expect(JSON.stringify(notQueued)).not.toContain("someone@example.com");
    expect(points.filter((point) => point.blobs?.[0] === "mcp.request")).toHaveLength(3); // the events' own points
  });

  it("does not count as lost an event its sender holds to send again (a session's, recorded with `queued`)", async () => {
    const { env, ctx, settled } = recordingQueue(Number.POSITIVE_INFINITY);
    const points: AnalyticsEngineDataPoint[] = [];
    Object.assign(env, { ANALYTICS: { writeDataPoint: (point: AnalyticsEngineDataPoint) => points.push(point) } });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      recordAudit(env, ctx, facts(1), { queued: () => {} });
      await settled();
      expect(String(logged.mock.calls[0]?.[0])).toContain("their sender holds them and tries again");
    } finally {
      logged.mockRestore();
    }
    expect(points.filter((point) => point.blobs?.[0] === NOT_QUEUED_KIND)).toEqual([]);
  });
});
