import type { ServerContext } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { askClient, toLegacyResult } from "../../worker/mcp/bridge/session-server.ts";
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
    const cancelled = new AbortController().signal;
    const ctx = {
      mcpReq: {
        signal: cancelled,
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
    // An approval prompt stays answerable for five minutes at the origin; the session must not give up sooner.
    for (const request of sent) expect(request.timeout).toBeGreaterThanOrEqual(5 * 60_000);
    // …and no longer than the client's own request lives: its cancellation stops the wait.
    for (const request of sent) expect(request.signal).toBe(cancelled);
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
