import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstreamHost, type UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// An upstream's JSON-RPC error -32042 (2025-11-25: "open this link first", data.elicitations[]) reaches the client in
// a form it understands, never as the -32603 the SDK's server makes of a thrown -32042 on the 2026-07-28 hop (s22 hunt
// "faithful" F1): a client that can open links is asked to, in an input_required round (a 2025-era client's session
// object asks it with elicitation/create), and any other gets the -32042 with its code, message and data.

const RAW_UPSTREAM = fileURLToPath(new URL("../fixtures/raw-upstream/server.mjs", import.meta.url));
const ALICE = { sub: "alice", server: "raw", clientId: "test-client", era: "modern" as const };
const LINK_CLIENT = { elicitation: { url: {} } };
const FORM_CLIENT = { elicitation: { form: {} } };

const LINK = { mode: "url", message: "Connect your Acme account", url: "https://acme.example/connect?s=1", elicitationId: "e-1" };
const LINK_ERROR = { code: -32042, message: "This request requires more information.", data: { elicitations: [LINK] } };
const LINK_KEY = "mcp-edge/upstream-link/e-1";

let host: UpstreamHost;
beforeAll(async () => {
  const spec = UpstreamServer.parse({ transport: "stdio", command: process.execPath, args: [RAW_UPSTREAM] });
  host = await startUpstreamHost(spec, { ...testHostOptions, log: () => {} }, ALICE);
});
afterAll(() => host?.close());

type Message = { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
async function answer(request: Request): Promise<Message> {
  const messages = (await messagesOf(await host.fetch(request, ALICE))) as Message[];
  return messages.find((message) => "result" in message || "error" in message) as Message;
}

let keys = 0;
/** A call the upstream answers with the -32042 the first time, and with a result once called again. */
const linkOnce = () => ({
  name: "erronce",
  arguments: { key: `k-${++keys}`, error: JSON.stringify(LINK_ERROR), text: '{"content":[{"type":"text","text":"connected"}]}' },
});
const retry = (params: Record<string, unknown>, first: Message, action: string) =>
  modernRequest(
    "tools/call",
    { ...params, inputResponses: { [LINK_KEY]: { action } }, requestState: first.result?.requestState },
    { capabilities: LINK_CLIENT },
  );

describe("an upstream's -32042 (URL elicitation required)", () => {
  it("asks a client that opens links to open the upstream's, and calls the upstream again once it has", async () => {
    const params = linkOnce();
    const first = await answer(modernRequest("tools/call", params, { capabilities: LINK_CLIENT }));
    expect(first.error).toBeUndefined();
    expect(first.result?.resultType).toBe("input_required");
    expect(first.result?.inputRequests).toEqual({ [LINK_KEY]: { method: "elicitation/create", params: LINK } });
    expect(typeof first.result?.requestState).toBe("string");

    const second = await answer(retry(params, first, "accept"));
    expect(second.error).toBeUndefined();
    expect(second.result?.content).toEqual([{ type: "text", text: "connected" }]);
  });

  it("does not send the call upstream when the user declines to open the link", async () => {
    const params = linkOnce();
    const first = await answer(modernRequest("tools/call", params, { capabilities: LINK_CLIENT }));
    const declined = await answer(retry(params, first, "decline"));
    expect(declined.result).toBeUndefined();
    expect(declined.error?.code).toBe(-32042);
    expect(declined.error?.message).toMatch(/you did not open the link server "raw" asked you to open/);
  });

  it("passes the -32042 as it is when the upstream asks again for the link the user just opened", async () => {
    const params = { name: "rawerr", arguments: { text: JSON.stringify(LINK_ERROR) } };
    const first = await answer(modernRequest("tools/call", params, { capabilities: LINK_CLIENT }));
    expect(first.result?.resultType).toBe("input_required");
    const again = await answer(retry(params, first, "accept"));
    expect(again.error).toEqual(LINK_ERROR);
  });

  it("gives a client that cannot open links the upstream's code, message and data", async () => {
    const params = { name: "rawerr", arguments: { text: JSON.stringify(LINK_ERROR) } };
    const refused = await answer(modernRequest("tools/call", params, { capabilities: FORM_CLIENT }));
    expect(refused.error).toEqual(LINK_ERROR);
  });
});
