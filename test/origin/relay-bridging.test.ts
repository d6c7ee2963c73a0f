import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { UpstreamHost } from "../../aws/origin/hosting/upstream-host.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ANSWER_WITHIN_META_KEY } from "../../contract/answer-within.ts";
import { demoServers } from "../../local/system.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// The origin serves a 2025-era stdio upstream (the MCP reference server) as a 2026-07-28 endpoint: progress on the
// request's own stream, and the upstream's mid-call requests (sampling, elicitation) as input_required rounds.
const ALICE = { sub: "alice", server: "everything", clientId: "test-client", era: "modern" as const };
const BOB = { sub: "bob", server: "everything", clientId: "test-client", era: "modern" as const };
const SAMPLING_CLIENT = { sampling: {}, elicitation: { form: {} } };

let pool: HostPool;
let alice: UpstreamHost;
let bob: UpstreamHost;
beforeAll(async () => {
  pool = createHostPool({ servers: demoServers(), idleTimeoutMs: 60_000, maxProcesses: 4, host: testHostOptions, log: () => {} });
  alice = (await pool.acquire("everything", ALICE)).host;
  bob = (await pool.acquire("everything", BOB)).host;
});
afterAll(() => pool.close());

type Message = Record<string, unknown> & { result?: Record<string, unknown>; error?: { code: number; message: string } };
const call = async (host: UpstreamHost, caller: typeof ALICE, request: Request) =>
  (await messagesOf(await host.fetch(request, caller))) as Message[];
const final = (messages: Message[]) => messages.find((message) => "result" in message || "error" in message) as Message;

describe("origin relay of a 2025-era upstream, seen as 2026-07-28", () => {
  it("negotiates the upstream's era and answers server/discover from it", async () => {
    expect(alice.era).toBe("legacy");
    const discover = final(await call(alice, ALICE, modernRequest("server/discover")));
    expect(discover.result?.supportedVersions).toContain("2026-07-28");
    const meta = (discover.result?._meta ?? {}) as Record<string, { name?: string }>;
    expect(meta["io.modelcontextprotocol/serverInfo"]?.name).toBeTruthy();
    expect(discover.result?.capabilities).toHaveProperty("tools");
  });

  it("relays the upstream's progress on the request's own stream, under the client's token", async () => {
    const messages = await call(
      alice,
      ALICE,
      modernRequest("tools/call", {
        name: "trigger-long-running-operation",
        arguments: { duration: 0.3, steps: 3 },
        _meta: { progressToken: "p-7" },
      }),
    );
    const progress = messages.filter((message) => message.method === "notifications/progress");
    expect(progress.map((message) => (message.params as { progress: number }).progress)).toEqual([1, 2, 3]);
    expect(progress.map((message) => (message.params as { progressToken: unknown }).progressToken)).toEqual([
      "p-7",
      "p-7",
      "p-7",
    ]);
    expect(final(messages).result?.content).toBeDefined();
  });

  it("turns the upstream's sampling request into input_required, and the client's answer into the call's result", async () => {
    const first = final(
      await call(
        alice,
        ALICE,
        modernRequest(
          "tools/call",
          { name: "trigger-sampling-request", arguments: { prompt: "hi" } },
          { capabilities: SAMPLING_CLIENT },
        ),
      ),
    );
    expect(first.result?.resultType).toBe("input_required");
    // Waited for as long as the parked call is held and its requestState opens (both relay.inputWaitSeconds in use),
    // less a margin for the trips to the client and back (5 s, or a tenth of a shorter window).
    const held = Math.min(testHostOptions.inputWaitMs, testHostOptions.stateCodec.ttlMs);
    const announced = (first.result?._meta as Record<string, unknown> | undefined)?.[ANSWER_WITHIN_META_KEY];
    expect(announced).toBe(held - Math.min(5_000, held / 10));
    const inputRequests = first.result?.inputRequests as Record<string, { method: string; params: unknown }>;
    const [[key, ask] = []] = Object.entries(inputRequests);
    expect(ask?.method).toBe("sampling/createMessage");
    const answer = { role: "assistant", content: { type: "text", text: "sampled by the test" }, model: "test-model" };
    const retry = modernRequest(
      "tools/call",
      {
        name: "trigger-sampling-request",
        arguments: { prompt: "hi" },
        inputResponses: { [key as string]: answer },
        requestState: first.result?.requestState,
      },
      { id: 2, capabilities: SAMPLING_CLIENT },
    );
    const second = final(await call(alice, ALICE, retry));
    expect(second.result?.resultType ?? "complete").toBe("complete");
    expect(JSON.stringify(second.result?.content)).toContain("sampled by the test");
  });

  it("refuses the requestState of one user's exchange in another user's retry", async () => {
    const first = final(
      await call(
        alice,
        ALICE,
        modernRequest("tools/call", { name: "trigger-elicitation-request", arguments: {} }, { capabilities: SAMPLING_CLIENT }),
      ),
    );
    expect(first.result?.resultType).toBe("input_required");
    const [key] = Object.keys(first.result?.inputRequests as object);
    const params = {
      name: "trigger-elicitation-request",
      arguments: {},
      inputResponses: { [key as string]: { action: "decline" } },
      requestState: first.result?.requestState,
    };
    const stolen = final(await call(bob, BOB, modernRequest("tools/call", params, { id: 3, capabilities: SAMPLING_CLIENT })));
    expect(stolen.error?.code).toBe(-32602);
    const tampered = final(
      await call(
        alice,
        ALICE,
        modernRequest(
          "tools/call",
          { ...params, requestState: `${params.requestState}x` },
          { id: 4, capabilities: SAMPLING_CLIENT },
        ),
      ),
    );
    expect(tampered.error?.code).toBe(-32602);
    // The rightful retry still completes the call.
    const own = final(await call(alice, ALICE, modernRequest("tools/call", params, { id: 5, capabilities: SAMPLING_CLIENT })));
    expect(own.result?.content).toBeDefined();
  });

  it("refuses a call that needs what its client did not declare with -32021 (HTTP 400), as a 2026-07-28 server would", async () => {
    const response = await alice.fetch(
      modernRequest("tools/call", { name: "trigger-sampling-request", arguments: { prompt: "hi" } }, { capabilities: {} }),
      ALICE,
    );
    expect(response.status).toBe(400);
    const [message] = (await messagesOf(response)) as Message[];
    expect(message?.error?.code).toBe(-32021);
    expect(JSON.stringify(message?.error)).toContain("sampling");
  });

  it("refuses a replayed retry of an earlier round", async () => {
    const capabilities = { ...SAMPLING_CLIENT };
    const first = final(
      await call(
        alice,
        ALICE,
        modernRequest("tools/call", { name: "trigger-elicitation-request", arguments: {} }, { capabilities }),
      ),
    );
    const [key] = Object.keys(first.result?.inputRequests as object);
    const params = {
      name: "trigger-elicitation-request",
      arguments: {},
      inputResponses: { [key as string]: { action: "decline" } },
      requestState: first.result?.requestState,
    };
    const once = final(await call(alice, ALICE, modernRequest("tools/call", params, { id: 6, capabilities })));
    expect(once.result?.content).toBeDefined();
    const replayed = final(await call(alice, ALICE, modernRequest("tools/call", params, { id: 7, capabilities })));
    expect(replayed.error?.code).toBe(-32602);
  });

  it("answers a method the upstream does not serve with -32601 and HTTP 404", async () => {
    const response = await alice.fetch(modernRequest("tasks/list"), ALICE);
    expect(response.status).toBe(404);
    const [message] = (await messagesOf(response)) as Message[];
    expect(message?.error?.code).toBe(-32601);
  });
});

describe("the origin's label on a JSON answer", () => {
  const assertion = { sub: "alice", client_id: "test-client", server: "everything", purpose: "mcp", jti: "j", exp: 0 };
  const serve = (request: Request) => serveMcp(pool, "everything", assertion as VerifiedAssertion, request);

  it("states the answer's outcome, so that the edge need not read it", async () => {
    const ok = await serve(modernRequest("tools/call", { name: "echo", arguments: { message: "hi" } }));
    expect(ok.headers.get("mcp-answer-outcome")).toBe("ok");
    expect((await messagesOf(ok))[0]).toHaveProperty("result");
    const unknown = await serve(modernRequest("tasks/list"));
    expect(unknown.headers.get("mcp-answer-outcome")).toBe("error -32601");
  });

  it("does not label a streamed answer (the edge reads those in passing)", async () => {
    const params = {
      name: "trigger-long-running-operation",
      arguments: { duration: 0.2, steps: 2 },
      _meta: { progressToken: "p" },
    };
    const streamed = await serve(modernRequest("tools/call", params, { id: 9 }));
    expect(streamed.headers.get("content-type")).toContain("text/event-stream");
    expect(streamed.headers.get("mcp-answer-outcome")).toBeNull();
    await streamed.text();
  });
});
