import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// An upstream's JSON-RPC error reaches the client with its code, message and data, but -32002: the origin's SDK
// server writes it as -32602, 2026-07-28's "resource not found" (s22 hunt "faithful" F7; docs/era-mapping.md says so,
// and what keeping it would need). This pins the documented behaviour: if it changes, the docs must too.

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const ALICE: Caller = { sub: "alice", server: "raw", clientId: "test-client", era: "legacy" };

let host: UpstreamHost;
beforeAll(async () => {
  const spec = UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] });
  host = await startUpstreamHost(spec, { ...testHostOptions, log: () => {} }, ALICE);
});
afterAll(() => host?.close());

async function errorOf(sent: { code: number; message: string; data?: unknown }) {
  const request = modernRequest("tools/call", { name: "rawerr", arguments: { text: JSON.stringify(sent) } });
  const messages = await messagesOf(await host.fetch(request, ALICE));
  return messages.find((message) => "error" in message)?.error;
}

describe("an upstream's error code on its way to the client", () => {
  it("passes as the upstream wrote it, code, message and data", async () => {
    for (const code of [-32603, -32001, -32000, -32099, 1]) {
      const sent = { code, message: `msg ${code}`, data: { d: code } };
      expect(await errorOf(sent)).toEqual(sent);
    }
  });

  it("but -32002, which reaches the client as -32602 with its message and data", async () => {
    const sent = { code: -32002, message: "Resource not found", data: { uri: "raw://missing" } };
    expect(await errorOf(sent)).toEqual({ ...sent, code: -32602 });
  });
});
