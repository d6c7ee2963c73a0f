import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import type { UpstreamServer } from "../../contract/config/schema.ts";
import { launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// s27 failure hunt F1: an HTTP upstream that begins a streamed answer and then dies, or ends the stream, without the
// answer left the call waiting for relay.requestTimeoutSeconds (the SDK's client never settles such a request). A
// gateway in front of the 2025-11-25 fixture stands for it: a call marked so is answered with the SSE headers and a
// log message, then the connection is dropped, or the stream ended, or (no break) the answer sent and the stream ended;
// everything else is passed on. Its events carry no id (the fixture's do: the SDK would resume those).

const CALLER = { sub: "alice", email: "alice@example.com", groups: [], server: "notes", clientId: "c", era: "modern" as const };
type Answer = { result?: unknown; error?: { code: number; message: string } };

let fixture: RunningFixture;
let gateway: Server;
let url: string;
beforeAll(async () => {
  fixture = await launchHttpFixture("legacy");
  const upstream = new URL(fixture.url);
  gateway = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const breaking = /"(drop|end|answer)-the-stream"/.exec(body.toString("utf8"))?.[1];
    if (breaking) {
      const { id } = JSON.parse(body.toString("utf8")) as { id: number };
      const progress = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: `call ${id}` } };
      response.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": request.headers["mcp-session-id"] });
      const answer = { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "answered" }] } };
      response.write(`event: message\ndata: ${JSON.stringify(progress)}\n\n`, () => {
        if (breaking === "drop") response.socket?.destroy();
        else if (breaking === "end") response.end();
        else response.end(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
      });
      return;
    }
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== "host")) as Record<
      string,
      string
    >;
    const answer = await fetch(new URL(request.url ?? "/", upstream), {
      method: request.method,
      headers,
      body: body.length ? body : undefined,
    });
    answer.headers.forEach((value, name) => {
      response.setHeader(name, value);
    });
    response.writeHead(answer.status);
    response.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}${upstream.pathname}`;
});
afterAll(async () => {
  gateway?.closeAllConnections();
  gateway?.close();
  await fixture?.stop();
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
      const pool = createHostPool({
        servers: {
          notes: { transport: "http", url, protocol: "streamable-http", identity: "none", headers: {} } as UpstreamServer,
        },
        idleTimeoutMs: 60_000,
        maxProcesses: 4,
        // A request timeout no test waits for: without the fix the call would end with it, saying so.
        host: { ...testHostOptions, requestTimeoutMs: 600_000 },
        log: (line) => lines.push(line),
      });
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
    const pool = createHostPool({
      servers: {
        notes: { transport: "http", url, protocol: "streamable-http", identity: "none", headers: {} } as UpstreamServer,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: (line) => lines.push(line),
    });
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
});
