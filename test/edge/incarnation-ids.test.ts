import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { withIncarnationIds } from "../../worker/mcp/bridge/incarnation-ids.ts";

// A session object restarted while a prompt was open starts numbering its requests to the client from 0 again: the
// client's late answer to the old prompt must not be taken for the answer to the new one.

function wrapped(prefix: string) {
  const sent: JSONRPCMessage[] = [];
  const received: JSONRPCMessage[] = [];
  const transport: Transport & { deliver(message: JSONRPCMessage): void } = {
    async start() {},
    async close() {},
    async send(message) {
      sent.push(message);
    },
    deliver(message) {
      this.onmessage?.(message);
    },
  };
  withIncarnationIds(transport, prefix);
  transport.onmessage = (message) => received.push(message);
  return { transport, sent, received };
}

const elicit = { jsonrpc: "2.0" as const, id: 0, method: "elicitation/create", params: { message: "Run it?" } };
const accepted = (id: string | number) => ({ jsonrpc: "2.0" as const, id, result: { action: "accept" } });

describe("request ids of one session object's incarnation", () => {
  it("leave with the incarnation's prefix, and its answers come back with the id the server sent", async () => {
    const { transport, sent, received } = wrapped("first:");
    await transport.send(elicit);
    expect(sent).toEqual([{ ...elicit, id: "first:0" }]);
    transport.deliver(accepted("first:0"));
    expect(received).toEqual([accepted(0)]);
  });

  it("drop an answer to an earlier incarnation's request of the same number", () => {
    const { transport, received } = wrapped("second:");
    transport.deliver(accepted("first:0"));
    transport.deliver(accepted(0));
    expect(received).toEqual([]);
  });

  it("name the prefixed id when the server cancels one of its requests", async () => {
    const { transport, sent } = wrapped("fourth:");
    await transport.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3, reason: "timed out" } });
    expect(sent).toEqual([
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "fourth:3", reason: "timed out" } },
    ]);
  });

  it("leave the client's own requests, and the server's answers to them, as they are", async () => {
    const { transport, sent, received } = wrapped("third:");
    const call = { jsonrpc: "2.0" as const, id: 7, method: "tools/call", params: { name: "echo" } };
    transport.deliver(call);
    await transport.send({ jsonrpc: "2.0", id: 7, result: { content: [] } });
    await transport.send({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } });
    expect(received).toEqual([call]);
    expect(sent.map((message) => ("id" in message ? message.id : undefined))).toEqual([7, undefined]);
  });
});
