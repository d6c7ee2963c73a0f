import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";
import { startUpstreamGateway, type UpstreamGateway } from "./upstream-gateway.ts";

// s27 failure hunt F1: an HTTP upstream that begins a streamed answer and then dies, or ends the stream, without the
// answer left the call waiting for relay.requestTimeoutSeconds (the SDK's client never settles such a request). A
// gateway in front of the 2025-11-25 fixture stands for it: a call marked so is answered with the SSE headers and a
// log message, then the connection is dropped, or the stream ended, or (no break) the answer sent and the stream ended;
// everything else is passed on. Its events carry no id (the fixture's do: the SDK would resume those).

const CALLER = { sub: "alice", email: "alice@example.com", groups: [], server: "notes", clientId: "c", era: "modern" as const };
type Answer = { result?: unknown; error?: { code: number; message: string } };

let fixture: RunningFixture;
let gateway: UpstreamGateway;
/** Streams the gateway holds open (a call marked hold-the-stream), ended without an answer once it is cancelled. */
const held: import("node:http").ServerResponse[] = [];
let initializes = 0;
beforeAll(async () => {
  fixture = await launchHttpFixture("legacy");
  gateway = await startUpstreamGateway(fixture.url, (body, request, response) => {
    const text = body.toString("utf8");
    if (text.includes('"method":"initialize"')) initializes++;
    if (text.includes('"hold-the-stream"')) {
      response.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": request.headers["mcp-session-id"] });
      response.write(": held\n\n");
      held.push(response);
      return true;
    }
    if (text.includes('"notifications/cancelled"') && held.length > 0) {
      // As some servers do: the cancelled request's stream ends, without the answer it is no longer owed.
      for (const stream of held.splice(0)) stream.end();
      response.writeHead(202).end();
      return true;
    }
    const breaking = /"(drop|end|answer)-the-stream"/.exec(text)?.[1];
    if (!breaking) return false;
    const { id } = JSON.parse(text) as { id: number };
    const log = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: `call ${id}` } };
    const answer = { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "answered" }] } };
    response.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": request.headers["mcp-session-id"] });
    response.write(`event: message\ndata: ${JSON.stringify(log)}\n\n`, () => {
      if (breaking === "drop") response.socket?.destroy();
      else if (breaking === "end") response.end();
      else response.end(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
    });
    return true;
  });
});
afterAll(async () => {
  gateway?.close();
  await fixture?.stop();
});

/** A host pool for the server behind the gateway, logging to `lines`. */
const poolOf = (lines: string[], requestTimeoutMs = testHostOptions.requestTimeoutMs) =>
  createHostPool({
    servers: {
      notes: {
        transport: "http",
        url: gateway.url,
        protocol: "streamable-http",
        identity: "none",
        headers: {},
      } as UpstreamServer,
    },
    idleTimeoutMs: 60_000,
    maxProcesses: 4,
    host: { ...testHostOptions, requestTimeoutMs },
    log: (line) => lines.push(line),
  });

async function ask(pool: HostPool, method: string, params: Record<string, unknown> = {}): Promise<Answer> {
  const { host, release } = await pool.acquire("notes", CALLER);
  try {
    const messages = (await messagesOf(await host.fetch(modernRequest(method, params, { id: 9 }), CALLER))) as Answer[];
    return messages.find((message) => "result" in message || "error" in message) ?? {};
  } finally {
    release();
  }
}

describe("an HTTP upstream whose streamed answer breaks off before the answer", () => {
  for (const [how, name] of [
    ["drops the connection", "drop-the-stream"],
    ["ends the stream", "end-the-stream"],
  ] as const) {
    it(`${how}: the call is answered at once that the answer broke off, not after the request timeout; the next works`, async () => {
      const lines: string[] = [];
      // A request timeout no test waits for: without the fix the call would end with it, saying so.
      const pool = poolOf(lines, 600_000);
      try {
        expect(JSON.stringify(await ask(pool, "tools/list"))).toContain('"tools"');
        const broken = await ask(pool, "tools/call", { name: "test_simple_text", arguments: { marker: name } });
        expect(broken.error?.code).toBe(-32000);
        expect(broken.error?.message).toContain("the upstream server's answer broke off: its stream ended before the answer");
        expect(lines.filter((line) => line.includes("answer broke off"))).toHaveLength(1);
        // The connection was closed: the next request opens a new one, and is answered.
        const next = await ask(pool, "tools/call", { name: "test_simple_text", arguments: {} });
        expect(next.result).toBeDefined();
      } finally {
        await pool.close();
      }
    });
  }

  it("keeps the connection when every streamed answer arrives: a call answered on an event stream is no break", async () => {
    const lines: string[] = [];
    const pool = poolOf(lines);
    try {
      for (let call = 0; call < 3; call++) {
        const answer = await ask(pool, "tools/call", { name: "test_simple_text", arguments: { marker: "answer-the-stream" } });
        expect(JSON.stringify(answer.result)).toContain("answered");
      }
      expect(lines.filter((line) => line.includes("closing the connection"))).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it("keeps the connection when the upstream ends a cancelled request's stream without an answer (s27 review R2)", async () => {
    const lines: string[] = [];
    const pool = poolOf(lines);
    try {
      expect(JSON.stringify(await ask(pool, "tools/list"))).toContain('"tools"');
      const connections = initializes;
      const { host, release } = await pool.acquire("notes", CALLER);
      const client = new AbortController();
      const call = modernRequest("tools/call", { name: "test_simple_text", arguments: { marker: "hold-the-stream" } }, { id: 9 });
      const pending = host
        .fetch(new Request(call, { signal: client.signal }), CALLER)
        .then((answer) => answer.text())
        .catch(() => "");
      await expect.poll(() => held.length).toBe(1);
      client.abort();
      await expect.poll(() => held.length).toBe(0);
      await pending;
      release();
      expect(JSON.stringify(await ask(pool, "tools/list"))).toContain('"tools"');
      expect(lines.filter((line) => line.includes("closing the connection"))).toEqual([]);
      expect(initializes).toBe(connections);
    } finally {
      await pool.close();
    }
  });
});
