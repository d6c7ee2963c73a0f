import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A 2025-11-25 upstream that sent the user to a link (URL-mode elicitation) says when the step there is done with
// `notifications/elicitation/complete`, so that the client can go on by itself. It reaches a 2025-era client that can
// open links on the stream of its request in flight, as the upstream's log messages do, and between calls on its
// session's listen (the GET stream); 2026-07-28 has no such notification, and a client without URL-mode elicitation
// would not be sent one (s22 hunt "faithful" F8).

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

/** Opens a listen and reads it up to its acknowledgement; `until` then reads on until the text appears or time runs out. */
async function openListen(caller: Caller, capabilities: Record<string, unknown>) {
  const request = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }, { capabilities });
  const response = await host.fetch(request, caller);
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) throw new Error(`no listen stream: ${response.status}`);
  let seen = "";
  // One read at a time, kept across waits: a read given up on would take its text with it.
  let pending: Promise<ReadableStreamReadResult<string>> | undefined;
  const until = async (text: string, ms: number) => {
    const deadline = Date.now() + ms;
    while (!seen.includes(text) && Date.now() < deadline) {
      pending ??= reader.read();
      const next = await Promise.race([pending, new Promise<undefined>((resolve) => setTimeout(resolve, 50))]);
      if (!next) continue;
      pending = undefined;
      if (next.done) break;
      seen += next.value;
    }
    return seen;
  };
  await until("notifications/subscriptions/acknowledged", 5_000);
  return { until, close: () => reader.cancel() };
}

describe("an upstream's notifications/elicitation/complete between calls", () => {
  it("reaches the listen of a 2025-era client that opens links, and no other listen", async () => {
    const taking = await openListen(LEGACY, LINK_CLIENT);
    const others = [await openListen(LEGACY, FORM_CLIENT), await openListen(MODERN, LINK_CLIENT)];
    await notifyCallAfter(LEGACY, LINK_CLIENT);
    const events = (await taking.until("elicitation/complete", 3_000))
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => JSON.parse(line.slice(5)));
    expect(events.filter((event) => event.method === COMPLETE.method)).toEqual([{ jsonrpc: "2.0", ...COMPLETE }]);
    for (const other of others) expect(await other.until("elicitation/complete", 300)).not.toContain("elicitation/complete");
    await Promise.all([taking, ...others].map((listen) => listen.close()));
  });

  it("goes on the listen alone while one is open, not also on a request in flight (a client would get it twice)", async () => {
    const taking = await openListen(LEGACY, LINK_CLIENT);
    const messages = await notifyCall(LEGACY, LINK_CLIENT);
    expect(notices(messages)).toEqual([]);
    expect(await taking.until("elicitation/complete", 3_000)).toContain('"elicitationId":"e-1"');
    await taking.close();
  });
});

/** A call after whose answer the upstream says the link is done, when no request is in flight. */
async function notifyCallAfter(caller: Caller, capabilities: Record<string, unknown>) {
  const request = modernRequest(
    "tools/call",
    { name: "notify", arguments: { after: [LINES[0]], afterMs: 50 } },
    { capabilities },
  );
  return messagesOf(await host.fetch(request, caller));
}
