import { describe, expect, it } from "vitest";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import { inspectRequest } from "../../worker/mcp/inspect-request.ts";
import { observeBatch, observeResponse } from "../../worker/mcp/observe-response.ts";
import { headersToClient, headersToOrigin } from "../../worker/mcp/relay-headers.ts";

describe("headers crossing the edge", () => {
  it("never forwards the client's credentials or cookies to the origin", () => {
    const forwarded = headersToOrigin(
      new Headers({
        authorization: "Bearer client-token",
        cookie: "session=1",
        "x-forwarded-for": "203.0.113.9",
        "mcp-edge-assertion": "forged-by-client",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": "s-1",
        "mcp-protocol-version": "2025-11-25",
        "mcp-param-region": "eu",
      }),
    );
    expect([...forwarded.keys()].sort()).toEqual([
      "accept",
      "content-type",
      "mcp-param-region",
      "mcp-protocol-version",
      "mcp-session-id",
    ]);
  });

  it("passes back only the transport's own headers", () => {
    const back = headersToClient(
      new Headers({
        "content-type": "text/event-stream",
        "mcp-session-id": "s-1",
        "set-cookie": "x=1",
        server: "origin",
        "mcp-answer-outcome": "ok",
        "mcp-origin-instance": "origin-1.abc",
      }),
    );
    expect([...back.keys()].sort()).toEqual(["content-type", "mcp-session-id"]);
  });
});

describe("reading a request for the audit trail", () => {
  it("finds the method, id, tool, its arguments and modern protocol version", () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "echo", arguments: { message: "hi" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
    });
    expect(inspectRequest(body, new Headers())).toEqual({
      method: "tools/call",
      id: 3,
      tool: "echo",
      arguments: { message: "hi" },
      protocolVersion: "2026-07-28",
      modern: true,
      isResponse: false,
    });
  });

  it("tells a 2025-era message (no envelope) and a client's answer to a server request apart", () => {
    const legacy = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} });
    expect(inspectRequest(legacy, new Headers()).modern).toBe(false);
    const answer = JSON.stringify({ jsonrpc: "2.0", id: "s-1", result: { action: "decline" } });
    expect(inspectRequest(answer, new Headers())).toMatchObject({ modern: false, isResponse: true, id: "s-1" });
  });

  it("takes the version from initialize, else from the header", () => {
    const initialize = JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25" } });
    expect(inspectRequest(initialize, new Headers()).protocolVersion).toBe("2025-11-25");
    const list = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(inspectRequest(list, new Headers({ "mcp-protocol-version": "2025-06-18" })).protocolVersion).toBe("2025-06-18");
  });

  it("takes a session's request without the version header for 2025-03-26, as the specification says to", () => {
    const list = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(inspectRequest(list, new Headers({ "mcp-session-id": "s" })).protocolVersion).toBe("2025-03-26");
    expect(inspectRequest("[]", new Headers({ "mcp-session-id": "s" })).protocolVersion).toBe("2025-03-26");
    expect(inspectRequest(list, new Headers()).protocolVersion).toBeUndefined();
  });

  it("survives a body that is not JSON-RPC", () => {
    expect(inspectRequest("{not json", new Headers())).toEqual({ protocolVersion: undefined });
    expect(inspectRequest("[1,2]", new Headers()).method).toBe("batch");
  });
});

const sse = (...messages: unknown[]) =>
  new Response(messages.map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`).join(""), {
    headers: { "content-type": "text/event-stream" },
  });

describe("observing how a request ended", () => {
  it("reads the outcome from an SSE stream without changing what the client receives", async () => {
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } };
    const result = { jsonrpc: "2.0", id: 5, result: { content: [] } };
    const { response, observed } = await observeResponse(sse(progress, result), 5);
    const received = await response.text();
    expect(received).toContain('"notifications/progress"');
    expect(received).toContain('"id":5');
    expect(await observed).toMatchObject({ outcome: "ok", responseBytes: new TextEncoder().encode(received).byteLength });
  });

  it("tells a JSON-RPC error, a tool error and a success apart", async () => {
    const error = await observeResponse(Response.json({ jsonrpc: "2.0", id: 1, error: { code: -32602, message: "bad" } }), 1);
    await error.response.text();
    expect(await error.observed).toMatchObject({ outcome: "error", errorCode: -32602 });

    const toolError = await observeResponse(sse({ jsonrpc: "2.0", id: "a", result: { isError: true, content: [] } }), "a");
    await toolError.response.text();
    expect((await toolError.observed).outcome).toBe("tool_error");
  });

  it("ignores a response to another request id (and answers the unanswered request)", async () => {
    const { response, observed } = await observeResponse(sse({ jsonrpc: "2.0", id: 99, result: {} }), 1);
    expect(await response.text()).toContain('"id":1');
    expect((await observed).outcome).toBe("error");
  });

  it("answers the request with a JSON-RPC error at once when the origin's stream breaks before the answer", async () => {
    const progress = new TextEncoder().encode(
      `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } })}\n\n`,
    );
    let pulls = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(progress);
        else controller.error(new Error("connection reset by the origin"));
      },
    });
    const { response, observed } = await observeResponse(
      new Response(broken, { headers: { "content-type": "text/event-stream" } }),
      7,
    );
    const received = await response.text();
    expect(received).toContain('"notifications/progress"');
    const last = JSON.parse(received.trim().split("\n").at(-1)?.slice("data: ".length) ?? "{}");
    expect(last).toMatchObject({ id: 7, error: { code: -32000 } });
    expect((await observed).outcome).toBe("unavailable");
  });

  it("calls a request cancelled when its client stops reading the streamed answer before it", async () => {
    const progress = { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } };
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`event: message\ndata: ${JSON.stringify(progress)}\n\n`));
      },
    });
    const { response, observed } = await observeResponse(
      new Response(endless, { headers: { "content-type": "text/event-stream" } }),
      4,
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel("the user pressed Esc");
    expect((await observed).outcome).toBe("cancelled");
  });

  describe("a 2026-07-28 subscriptions/listen (answered only when its stream ends)", () => {
    const acknowledged = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: {} })}\n\n`;
    const listening = () => {
      let end = () => {};
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(acknowledged));
          end = () => controller.close();
        },
      });
      return { response: new Response(stream, { headers: { "content-type": "text/event-stream" } }), end: () => end() };
    };
    const settledWithin = (observed: Promise<unknown>, ms: number) =>
      Promise.race([observed.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), ms))]);

    it("is observed ok once the origin acknowledges it, while the stream stays open", async () => {
      const { response: origin, end } = listening();
      const { response, observed } = await observeResponse(origin, 9, "subscriptions/listen");
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      expect(await settledWithin(observed, 200)).toBe(true);
      expect(await observed).toEqual({ outcome: "ok", responseBytes: acknowledged.length });
      // Still watched: a listen the origin ends without its answer still gets the client its error.
      end();
      let rest = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
        rest += new TextDecoder().decode(chunk.value);
      expect(rest).toContain('"id":9,"error":{"code":-32000');
    });

    it("but an acknowledgement on another request's stream settles nothing", async () => {
      const { response: origin } = listening();
      const { response, observed } = await observeResponse(origin, 9, "tools/call");
      await (response.body as ReadableStream<Uint8Array>).getReader().read();
      expect(await settledWithin(observed, 200)).toBe(false);
    });
  });

  it("calls each unanswered request of a batch cancelled when its client stops reading, and an answered one by its answer", async () => {
    const answered = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: 1, result: {} })}\n\n`;
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(answered));
      },
    });
    const batch = await observeBatch(new Response(endless, { headers: { "content-type": "text/event-stream" } }), [1, 2]);
    const reader = (batch.response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    const outcomes = await batch.observed;
    expect([outcomes(1).outcome, outcomes(2).outcome]).toEqual(["ok", "cancelled"]);
  });

  it("answers with a JSON-RPC error when the origin's JSON answer breaks off", async () => {
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error("connection reset by the origin"));
      },
    });
    const { response, observed } = await observeResponse(
      new Response(broken, { headers: { "content-type": "application/json" } }),
      3,
    );
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ jsonrpc: "2.0", id: 3, error: { code: -32000 } });
    expect((await observed).outcome).toBe("unavailable");
  });

  it("relays a JSON answer the origin labelled with its outcome without reading it", async () => {
    const labelled = new Response('{"jsonrpc":"2.0","id":4,"result":{"isError":true}}', {
      headers: { "content-type": "application/json", "mcp-answer-outcome": "error -32603", "content-length": "52" },
    });
    const { response, observed } = await observeResponse(labelled, 4);
    expect(response).toBe(labelled);
    expect(response.bodyUsed).toBe(false);
    expect(await observed).toEqual({ outcome: "error", errorCode: -32603, responseBytes: 52 });
  });

  it("counts the bytes of a session object's short-way answer", async () => {
    const json = '{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"déjà"}]}}';
    const answer = asResponse({ json, outcome: "ok", sessionId: "s" });
    const { response, observed } = await observeResponse(answer, 4);
    expect(await observed).toEqual({ outcome: "ok", responseBytes: new TextEncoder().encode(json).byteLength });
    expect(await response.text()).toBe(json);
  });

  it("reads a JSON answer whose outcome label is not one the origin writes", async () => {
    const odd = new Response('{"jsonrpc":"2.0","id":4,"result":{"isError":true}}', {
      headers: { "content-type": "application/json", "mcp-answer-outcome": "fine" },
    });
    const { observed } = await observeResponse(odd, 4);
    expect((await observed).outcome).toBe("tool_error");
  });

  it("reads each answer of a batch by its id: a JSON array, or SSE events", async () => {
    const answers = [
      { jsonrpc: "2.0", id: 2, error: { code: -32003, message: "refused by policy" } },
      { jsonrpc: "2.0", id: 1, result: { content: [] } },
    ];
    const json = await observeBatch(Response.json(answers), [1, 2]);
    expect(await json.response.json()).toEqual(answers);
    const of = await json.observed;
    expect([of(1).outcome, of(2).outcome, of(2).errorCode, of(undefined).outcome]).toEqual(["ok", "denied", -32003, "ok"]);
    const stream = await observeBatch(sse(...answers), [1, 2]);
    await stream.response.text();
    expect([(await stream.observed)(1).outcome, (await stream.observed)(2).outcome]).toEqual(["ok", "denied"]);
  });

  it("answers each request of a batch still unanswered when the stream ends, and only those", async () => {
    const { response, observed } = await observeBatch(sse({ jsonrpc: "2.0", id: "a", result: {} }), ["a", "b", "c"]);
    const errors = (await response.text())
      .split("\n")
      .filter((line) => line.startsWith("data: "))
      .map((line) => JSON.parse(line.slice("data: ".length)))
      .filter((message) => message.error);
    expect(errors.map((message) => message.id)).toEqual(["b", "c"]);
    const of = await observed;
    expect([of("a").outcome, of("b").outcome, of("c").outcome]).toEqual(["ok", "error", "error"]);
  });

  it("calls an unreachable origin unavailable", async () => {
    const { observed } = await observeResponse(new Response(null, { status: 503 }), 1);
    expect((await observed).outcome).toBe("unavailable");
  });
});
