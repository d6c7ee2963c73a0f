import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A 2025-11-25 upstream that sent the user to a link (URL-mode elicitation) says when the step there is done with
// `notifications/elicitation/complete`, so that the client can go on by itself. It reaches a 2025-era client that can
// open links on the stream of its request in flight, as the upstream's log messages do; 2026-07-28 has no such
// notification, and a client without URL-mode elicitation would not be sent one (s22 hunt "faithful" F8).

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const LEGACY: Caller = { sub: "alice", server: "raw", clientId: "test-client", era: "legacy" };
const MODERN: Caller = { ...LEGACY, era: "modern" };
const LINK_CLIENT = { elicitation: { form: {}, url: {} } };
const FORM_CLIENT = { elicitation: { form: {} } };

const COMPLETE = { method: "notifications/elicitation/complete", params: { elicitationId: "e-1" } };
const LINES = [
  JSON.stringify({ jsonrpc: "2.0", ...COMPLETE }),
  '{"jsonrpc":"2.0","method":"notifications/x-vendor","params":{}}',
];

let host: UpstreamHost;
beforeAll(async () => {
  const spec = UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] });
  host = await startUpstreamHost(spec, { ...testHostOptions, log: () => {} }, LEGACY);
});
afterAll(() => host?.close());

async function notifyCall(caller: Caller, capabilities: Record<string, unknown>) {
  const request = modernRequest(
    "tools/call",
    { name: "notify", arguments: { lines: LINES } },
    { capabilities, logLevel: "debug" },
  );
  return messagesOf(await host.fetch(request, caller));
}

const notices = (messages: Record<string, unknown>[]) => messages.filter((message) => "method" in message);

describe("an upstream's notifications/elicitation/complete during a call", () => {
  it("reaches a 2025-era client that opens links, before the call's answer", async () => {
    const messages = await notifyCall(LEGACY, LINK_CLIENT);
    expect(notices(messages)).toEqual([{ jsonrpc: "2.0", ...COMPLETE }]);
    expect(messages.at(-1)?.result).toMatchObject({ content: [{ type: "text", text: "notified" }] });
  });

  it("is not sent to a 2025-era client without URL-mode elicitation, nor to a 2026-07-28 client", async () => {
    for (const [caller, capabilities] of [
      [LEGACY, FORM_CLIENT],
      [MODERN, LINK_CLIENT],
    ] as const) {
      const messages = await notifyCall(caller, capabilities);
      expect(notices(messages)).toEqual([]);
      expect(messages.at(-1)?.result).toMatchObject({ content: [{ type: "text", text: "notified" }] });
    }
  });
});
