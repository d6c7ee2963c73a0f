import type { ServerContext } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { askClient, CLIENT_ANSWER_TIMEOUT_MS, toLegacyResult } from "../../worker/mcp/bridge/session-server.ts";
import { GET_STREAM_ID, resumesGetStream } from "../../worker/mcp/bridge/stream-watch.ts";

const SERVER_INFO = { "io.modelcontextprotocol/serverInfo": { name: "upstream", version: "1.0.0" } };

describe("a 2026-07-28 result as a 2025-era client gets it", () => {
  it("loses the modern-only fields and the hop's server info, and keeps the upstream's own _meta", () => {
    const result = {
      content: [{ type: "text", text: "hi" }],
      resultType: "complete",
      ttlMs: 1000,
      cacheScope: "user",
      _meta: { ...SERVER_INFO, "example.com/trace": "abc" },
    };
    expect(toLegacyResult(result)).toEqual({ content: [{ type: "text", text: "hi" }], _meta: { "example.com/trace": "abc" } });
  });

  it("drops a _meta left empty, and leaves the result it was given unchanged", () => {
    const result = { content: [], _meta: { ...SERVER_INFO } };
    expect(toLegacyResult(result)).toEqual({ content: [] });
    expect(result._meta).toEqual(SERVER_INFO);
  });

  it("passes a result without _meta as it is", () => {
    expect(toLegacyResult({ tools: [{ name: "echo" }] })).toEqual({ tools: [{ name: "echo" }] });
  });
});

describe("input requests asked of a 2025-era client", () => {
  it("are sent in parallel and answered by key, each waited for as long as a person may take (not the SDK's 60 s)", async () => {
    const sent: { method: string; timeout?: number; signal?: AbortSignal }[] = [];
    const ctx = {
      mcpReq: {
        signal: new AbortController().signal,
        send: async (request: { method: string }, options?: { timeout?: number; signal?: AbortSignal }) => {
          sent.push({ method: request.method, timeout: options?.timeout, signal: options?.signal });
          return { answeredTo: request.method };
        },
      },
    } as unknown as ServerContext;
    const asks = {
      "mcp-edge/approval": { method: "elicitation/create", params: { message: "Run it?" } },
      sample: { method: "sampling/createMessage", params: { messages: [] } },
    };
    expect(await askClient(asks, ctx)).toEqual({
      "mcp-edge/approval": { answeredTo: "elicitation/create" },
      sample: { answeredTo: "sampling/createMessage" },
    });
    // When the origin does not say how long it waits, as long as any origin may: never the SDK's 60 seconds.
    for (const request of sent) expect(request.timeout).toBe(CLIENT_ANSWER_TIMEOUT_MS);
    expect(CLIENT_ANSWER_TIMEOUT_MS).toBeGreaterThanOrEqual(5 * 60_000);
    for (const request of sent) expect(request.signal?.aborted).toBe(false);
  });

  it("are waited for as long as the origin said, and withdrawn when the client cancels its request", async () => {
    const client = new AbortController();
    const signals: AbortSignal[] = [];
    const timeouts: (number | undefined)[] = [];
    const ctx = {
      mcpReq: {
        signal: client.signal,
        send: (_request: unknown, options?: { timeout?: number; signal?: AbortSignal }) => {
          timeouts.push(options?.timeout);
          signals.push(options?.signal as AbortSignal);
          return new Promise((_resolve, reject) =>
            options?.signal?.addEventListener("abort", () => reject(new Error("withdrawn"))),
          );
        },
      },
    } as unknown as ServerContext;
    const asking = askClient({ a: { method: "elicitation/create" }, b: { method: "roots/list" } }, ctx, 45_000);
    client.abort();
    await expect(asking).rejects.toThrow("withdrawn");
    expect(timeouts).toEqual([45_000, 45_000]);
    expect(signals.map((signal) => signal.aborted)).toEqual([true, true]);
  });

  it("are withdrawn together when one of them fails: the round fails whatever the others answer", async () => {
    const signals = new Map<string, AbortSignal>();
    const ctx = {
      mcpReq: {
        signal: new AbortController().signal,
        send: (request: { method: string }, options?: { signal?: AbortSignal }) => {
          signals.set(request.method, options?.signal as AbortSignal);
          if (request.method === "sampling/createMessage") return Promise.reject(new Error("the user declined sampling"));
          return new Promise(() => {}); // a form nobody fills in
        },
      },
    } as unknown as ServerContext;
    const asks = { form: { method: "elicitation/create" }, sample: { method: "sampling/createMessage" } };
    await expect(askClient(asks, ctx)).rejects.toThrow("the user declined sampling");
    expect(signals.get("elicitation/create")?.aborted).toBe(true);
  });
});

describe("a GET on a 2025-era session", () => {
  it("opens or resumes the GET stream the Worker holds, unless its Last-Event-ID names a POST's stream", () => {
    expect(resumesGetStream(null)).toBe(true);
    expect(resumesGetStream("")).toBe(true); // names no event: a fresh stream, never one the session object would hold
    expect(resumesGetStream(`${GET_STREAM_ID}_42`)).toBe(true);
    expect(resumesGetStream("some-post-stream_7")).toBe(false);
  });
});
