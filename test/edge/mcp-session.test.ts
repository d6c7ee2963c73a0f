import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { McpSession } from "../../durable-objects/mcp-session.ts";
import type { RequestAudit } from "../../worker/audit/request-audit.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { asResponse } from "../../worker/mcp/bridge/direct-answer.ts";
import { StorageEventStore } from "../../worker/mcp/bridge/event-store.ts";
import { MAX_SUBSCRIPTIONS, type SessionIdentity, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { SessionHttpRequest } from "../../worker/mcp/bridge/session-request.ts";
import { WATCH_CLOSE, WATCH_URL } from "../../worker/mcp/bridge/stream-watch.ts";
import {
  ALICE,
  sessionPost as post,
  storedRecord as record,
  sessionObjects as sessions,
  storedSession,
} from "./stored-session.ts";

// A 2025-era session object, with no origin behind it: everything here is answered by the session itself, from
// its stored record, the way it is after the object was evicted and loaded again.

/** One request to the object, answered as the Worker answers the client. */
const serve = async (stub: DurableObjectStub<McpSession>, http: SessionHttpRequest, caller = ALICE) =>
  asResponse(await stub.serve(http, caller, http.headers["mcp-session-id"] as string));

const answerOf = async (response: Response) => {
  const text = await response.text();
  const data = text.includes("data:")
    ? text
        .split("\n")
        .find((line) => line.startsWith("data: {"))
        ?.slice(6)
    : text;
  return JSON.parse(data ?? "{}") as { id?: unknown; result?: unknown; error?: { code: number } };
};

describe("a 2025-era session object", () => {
  it("is rebuilt from its stored record after eviction and serves its user", async () => {
    const { stub, sessionId } = await storedSession();
    const first = await serve(stub, post(sessionId, { id: 1, method: "ping" }));
    expect(first.status).toBe(200);
    expect(await answerOf(first)).toMatchObject({ id: 1, result: {} });
    // The log level a client sets is kept in storage, so it survives the next eviction too.
    const level = await serve(stub, post(sessionId, { id: 2, method: "logging/setLevel", params: { level: "debug" } }));
    expect(await answerOf(level)).toMatchObject({ id: 2, result: {} });
    const stored = await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get<SessionRecord>("record"));
    expect(stored?.logLevel).toBe("debug");
  });

  it("tells a user whose groups grew too many to carry why a later call is refused (JSON-RPC -32603), not that the server is unavailable", async () => {
    const { stub, sessionId } = await storedSession();
    const groups = Array.from({ length: 600 }, (_, index) => `directory-group-number-${index}@example.com`);
    const call = post(sessionId, { id: 7, method: "tools/call", params: { name: "echo", arguments: { message: "hi" } } });
    const answer = await answerOf(await serve(stub, call, { ...ALICE, groups }));
    expect(answer).toMatchObject({ id: 7, error: { code: -32603 } });
    expect((answer.error as { message?: string }).message).toMatch(/carries 600 groups, too many .* \(groups\.include\)/);
  });

  it("ends, and is not found (404), when its stored handshake cannot be replayed (a record this release cannot take up)", async () => {
    const { stub, sessionId } = await storedSession();
    await runInDurableObject(stub, async (_instance, state) => {
      const stored = state.storage.kv.get<SessionRecord>("record") as SessionRecord;
      state.storage.kv.put("record", { ...stored, initialize: { protocolVersion: 20251125 } });
    });
    const response = await serve(stub, post(sessionId, { id: 1, method: "ping" }));
    expect(response.status).toBe(404);
    expect((await answerOf(response)).error?.code).toBe(-32001);
    const left = await runInDurableObject(stub, async (_instance, state) => ({
      keys: [...state.storage.kv.list()].length,
      alarm: await state.storage.getAlarm(),
    }));
    expect(left).toEqual({ keys: 0, alarm: null });
  });

  it("is not found (404) for another user presenting its id", async () => {
    const { stub, sessionId } = await storedSession();
    const mallory = { ...ALICE, sub: "mallory" };
    const response = await serve(stub, post(sessionId, { id: 1, method: "ping" }), mallory);
    expect(response.status).toBe(404);
    expect((await answerOf(response)).error?.code).toBe(-32001);
  });

  it("is not found (404) for another client of the same user presenting its id", async () => {
    const { stub, sessionId } = await storedSession();
    const response = await serve(stub, post(sessionId, { id: 1, method: "ping" }), { ...ALICE, clientId: "client-2" });
    expect(response.status).toBe(404);
    expect((await serve(stub, post(sessionId, { id: 2, method: "ping" }))).status).toBe(200);
  });

  it("is not found for the same user on another server", async () => {
    const { stub, sessionId } = await storedSession();
    const response = await serve(stub, post(sessionId, { id: 1, method: "ping" }), { ...ALICE, server: "filesystem" });
    expect(response.status).toBe(404);
  });

  it("ends on DELETE: its record is gone and the id is unknown", async () => {
    const { stub, sessionId } = await storedSession();
    const deleted = await serve(stub, {
      url: "http://localhost:8787/mcp/everything",
      method: "DELETE",
      headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
    });
    expect(deleted.ok).toBe(true);
    expect(await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get("record"))).toBeUndefined();
    const after = await serve(stub, post(sessionId, { id: 3, method: "ping" }));
    expect(after.status).toBe(404);
  });

  it("refuses an initialize without params (400, invalid params) and stores nothing", async () => {
    const sessionId = "i".repeat(43);
    const stub = sessions().get(sessions().idFromName(sessionId));
    const response = await serve(stub, post(sessionId, { id: 7, method: "initialize" }));
    expect(response.status).toBe(400);
    expect(await answerOf(response)).toMatchObject({ id: 7, error: { code: -32602, message: /needs params/ } });
    expect(await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get("record"))).toBeUndefined();
  });

  it("refuses an initialize whose params are more than a session keeps (400) and stores nothing", async () => {
    const sessionId = "j".repeat(43);
    const stub = sessions().get(sessions().idFromName(sessionId));
    const params = {
      protocolVersion: "2025-11-25",
      capabilities: { padding: "p".repeat(70_000) },
      clientInfo: { name: "c", version: "1" },
    };
    const response = await serve(stub, post(sessionId, { id: 8, method: "initialize", params }));
    expect(response.status).toBe(400);
    expect(await answerOf(response)).toMatchObject({ id: 8, error: { code: -32602, message: /more than a session keeps/ } });
    expect(await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get("record"))).toBeUndefined();
  });

  it("refuses a resource subscription past what the session keeps, and keeps the ones it has", async () => {
    const { stub, sessionId } = await storedSession();
    const subscribe = (id: number, uri: string) =>
      serve(stub, post(sessionId, { id, method: "resources/subscribe", params: { uri } }));
    expect(await answerOf(await subscribe(1, "test://kept"))).toMatchObject({ id: 1, result: {} });
    const refused = await answerOf(await subscribe(2, `test://${"u".repeat(300_000)}`));
    expect(refused).toMatchObject({ id: 2, error: { code: -32602 } });
    const stored = await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get<SessionRecord>("record"));
    expect(stored?.subscriptions).toEqual(["test://kept"]);
  });

  it("refuses a subscription past MAX_SUBSCRIPTIONS resources, and takes one again once the client unsubscribes one", async () => {
    const { stub, sessionId } = await storedSession();
    const full = Array.from({ length: MAX_SUBSCRIPTIONS }, (_, index) => `test://r/${index}`);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.kv.put("record", { ...state.storage.kv.get<SessionRecord>("record"), subscriptions: full });
    });
    const change = (id: number, method: string, uri: string) => serve(stub, post(sessionId, { id, method, params: { uri } }));
    const refused = await answerOf(await change(1, "resources/subscribe", "test://one-more"));
    expect(refused).toMatchObject({ id: 1, error: { code: -32602, message: /subscribes to 1000 resources/ } });
    expect(await answerOf(await change(2, "resources/subscribe", "test://r/7"))).toMatchObject({ id: 2, result: {} });
    expect(await answerOf(await change(3, "resources/unsubscribe", "test://r/0"))).toMatchObject({ id: 3, result: {} });
    expect(await answerOf(await change(4, "resources/subscribe", "test://one-more"))).toMatchObject({ id: 4, result: {} });
    const stored = await runInDurableObject(stub, async (_instance, state) => state.storage.kv.get<SessionRecord>("record"));
    expect(stored?.subscriptions).toHaveLength(MAX_SUBSCRIPTIONS);
    expect(stored?.subscriptions).toContain("test://one-more");
  });

  it("is unknown when nothing was ever stored", async () => {
    const sessionId = "n".repeat(43);
    const stub = sessions().get(sessions().idFromName(sessionId));
    expect((await serve(stub, post(sessionId, { id: 1, method: "ping" }))).status).toBe(404);
  });

  it("refuses another user's (or client's, or server's) POST to a 2024-11-05 HTTP+SSE stream it did not open (404)", async () => {
    const sessionId = "s".repeat(43);
    const stub = sessions().get(sessions().idFromName(sessionId));
    const stream = await stub.openSse(ALICE, sessionId, `/mcp/everything?sessionId=${sessionId}`);
    const ping = { jsonrpc: "2.0", id: 1, method: "ping" };
    const audit: RequestAudit = { kind: "mcp.request", method: "ping", started: Date.now() };
    expect((await stub.postSse(ping, { ...ALICE, sub: "mallory" }, audit)).status).toBe(404);
    expect((await stub.postSse(ping, { ...ALICE, server: "filesystem" }, audit)).status).toBe(404);
    expect((await stub.postSse(ping, { ...ALICE, clientId: "client-2" }, audit)).status).toBe(404);
    // Its owner is heard (and told to initialize first).
    expect((await stub.postSse(ping, ALICE, audit)).status).toBe(400);
    await stream.body?.cancel();
  });
});

describe("a session's GET stream, held by the Worker", () => {
  const watcher = async (stub: DurableObjectStub<McpSession>) => {
    const socket = (await stub.fetch(WATCH_URL, { headers: { upgrade: "websocket" } })).webSocket;
    if (!socket) throw new Error("no WebSocket");
    socket.accept();
    const messages: unknown[] = [];
    socket.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data))));
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (event) => resolve(event.code)));
    return { messages, closed };
  };

  it("is opened for the session's user and client only: another user, client, server or id gets 404", async () => {
    const { stub, sessionId } = await storedSession();
    const opened = await stub.openStream(ALICE, sessionId);
    expect(opened).toMatchObject({ record: { sessionId }, replay: [], announce: false });
    expect(await stub.openStream({ ...ALICE, sub: "mallory" }, sessionId)).toHaveProperty("status", 404);
    expect(await stub.openStream({ ...ALICE, server: "filesystem" }, sessionId)).toHaveProperty("status", 404);
    expect(await stub.openStream({ ...ALICE, clientId: "client-2" }, sessionId)).toHaveProperty("status", 404);
    expect(await stub.openStream(ALICE, "o".repeat(43))).toHaveProperty("status", 404);
  });

  it("resumes after Last-Event-ID with the events logged since, and asks for every change to be announced", async () => {
    const { stub, sessionId } = await storedSession();
    const changed = { jsonrpc: "2.0" as const, method: "notifications/tools/list_changed" };
    const first = await stub.logStreamEvent(changed);
    const second = await stub.logStreamEvent({ ...changed, method: "notifications/prompts/list_changed" });
    const resumed = await stub.openStream(ALICE, sessionId, first);
    expect(resumed).toMatchObject({
      replay: [{ id: second, message: { method: "notifications/prompts/list_changed" } }],
      announce: true,
    });
  });

  it("tells a stream the subscriptions that changed between its opening and its watch", async () => {
    const { stub, sessionId } = await storedSession();
    await stub.openStream(ALICE, sessionId);
    const subscribed = await serve(stub, post(sessionId, { id: 1, method: "resources/subscribe", params: { uri: "test://b" } }));
    expect(await answerOf(subscribed)).toMatchObject({ id: 1, result: {} });
    const watching = await watcher(stub);
    await expect.poll(() => watching.messages).toEqual([{ subscriptions: ["test://b"] }]);
    // Opened and watched with nothing in between: nothing to tell.
    await stub.openStream(ALICE, sessionId);
    const quiet = await watcher(stub);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(quiet.messages).toEqual([]);
  });

  it("tells the invocation holding the stream when the subscriptions change, and closes it for a newer stream and at DELETE", async () => {
    const { stub, sessionId } = await storedSession();
    const older = await watcher(stub);
    const newer = await watcher(stub);
    expect(await older.closed).toBe(WATCH_CLOSE.replaced.code);
    const subscribed = await serve(stub, post(sessionId, { id: 1, method: "resources/subscribe", params: { uri: "test://a" } }));
    expect(await answerOf(subscribed)).toMatchObject({ id: 1, result: {} });
    await expect.poll(() => newer.messages).toEqual([{ subscriptions: ["test://a"] }]);
    const deleted = await serve(stub, {
      url: "http://localhost:8787/mcp/everything",
      method: "DELETE",
      headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
    });
    expect(deleted.ok).toBe(true);
    expect(await newer.closed).toBe(WATCH_CLOSE.ended.code);
    // A stream opened just before the DELETE finds nothing to watch and stores nothing for the session that is gone.
    expect((await stub.fetch(WATCH_URL, { headers: { upgrade: "websocket" } })).status).toBe(404);
    expect(await stub.logStreamEvent({ jsonrpc: "2.0", method: "notifications/tools/list_changed" })).toBeUndefined();
    const stored = await runInDurableObject(stub, async (_instance, state) => [...state.storage.kv.list()].length);
    expect(stored).toBe(0);
  });
});

describe("a session's resumption log", () => {
  const message = (n: number) => ({ jsonrpc: "2.0" as const, method: "notifications/message", params: { n } });
  const stubFor = (name: string) => sessions().get(sessions().idFromName(name));
  const replay = (stub: DurableObjectStub<McpSession>, lastEventId: string) =>
    runInDurableObject(stub, async (_instance, state) => {
      const sent: [string, unknown][] = [];
      const stream = await new StorageEventStore(state.storage.kv).replayEventsAfter(lastEventId, {
        send: async (eventId, sentMessage) => void sent.push([eventId, sentMessage]),
      });
      return { stream, sent };
    });

  it("survives the object's eviction: a reconnect gets that stream's events after its Last-Event-ID", async () => {
    const stub = stubFor("event-log-eviction");
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv);
      return [
        await store.storeEvent("stream-a", message(1)),
        await store.storeEvent("stream-b", message(2)),
        await store.storeEvent("stream-a", message(3)),
      ];
    });
    await evictDurableObject(stub);
    expect(await replay(stub, ids[0] as string)).toEqual({ stream: "stream-a", sent: [[ids[2], message(3)]] });
  });

  it("keeps the last events only, and replays all it kept of a stream whose Last-Event-ID it dropped", async () => {
    const stub = stubFor("event-log-trim");
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv, { maxEvents: 2 });
      const stored: string[] = [];
      for (let n = 1; n <= 4; n++) stored.push(await store.storeEvent("stream-a", message(n)));
      return stored;
    });
    expect(await replay(stub, ids[0] as string)).toEqual({
      stream: "stream-a",
      sent: [
        [ids[2], message(3)],
        [ids[3], message(4)],
      ],
    });
  });

  it("keeps an answer too large to store as an error that says so, and no such notification", async () => {
    const stub = stubFor("event-log-large");
    const big = "x".repeat(2000);
    const answer = { jsonrpc: "2.0" as const, id: 7, result: { content: [{ type: "text", text: big }] } };
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv, { maxEventChars: 1000 });
      return [
        await store.storeEvent("stream-a", message(1)),
        await store.storeEvent("stream-a", { jsonrpc: "2.0", method: "notifications/message", params: { big } }),
        await store.storeEvent("stream-a", answer),
      ];
    });
    const { sent } = await replay(stub, ids[0] as string);
    expect(sent).toEqual([
      [ids[2], { jsonrpc: "2.0", id: 7, error: { code: -32603, message: expect.stringMatching(/too large to keep .* again/) } }],
    ]);
  });

  it("drops the oldest events once the log holds more than its size bound, keeping the newest", async () => {
    const stub = stubFor("event-log-size");
    const sized = (n: number) => ({ ...message(n), params: { n, pad: "y".repeat(300) } });
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv, { maxLogChars: 1000 });
      const stored: string[] = [];
      for (let n = 1; n <= 6; n++) stored.push(await store.storeEvent("stream-a", sized(n)));
      return stored;
    });
    const kept = await runInDurableObject(
      stub,
      async (_instance, state) => [...state.storage.kv.list({ prefix: "event:" })].length,
    );
    expect(kept).toBe(2); // each takes about 370 characters: three would pass 1000
    // The first event is no longer kept: a reconnect after it gets everything kept of its stream.
    const { sent } = await replay(stub, ids[0] as string);
    expect(sent.map(([id]) => id)).toEqual(ids.slice(6 - kept));
  });

  it("takes up a log older code wrote (its last number alone) without losing or replaying anything twice", async () => {
    const stub = stubFor("event-log-older-code");
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      // As older code left it with a bound of 2 events: the last number, and the events 4 and 5.
      state.storage.kv.put("event-sequence", 5);
      for (const n of [4, 5])
        state.storage.kv.put(`event:${String(n).padStart(12, "0")}`, { streamId: "stream-a", message: message(n) });
      return [await new StorageEventStore(state.storage.kv, { maxEvents: 2 }).storeEvent("stream-a", message(6))];
    });
    expect(ids).toEqual(["stream-a_6"]);
    expect(await replay(stub, "stream-a_4")).toEqual({
      stream: "stream-a",
      sent: [
        ["stream-a_5", message(5)],
        ["stream-a_6", message(6)],
      ],
    });
  });

  it("replays nothing for an id that names no event of the session", async () => {
    expect(await replay(stubFor("event-log-unknown"), "not-an-event-id")).toEqual({ stream: "", sent: [] });
  });

  it("resumes after an event it counted but could not keep from that event on, not from the stream's start", async () => {
    const stub = stubFor("event-log-unkept");
    const ids = await runInDurableObject(stub, async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv, { maxEventChars: 1000 });
      return [
        await store.storeEvent("stream-a", message(1)),
        await store.storeEvent("stream-a", {
          jsonrpc: "2.0",
          method: "notifications/message",
          params: { big: "x".repeat(2000) },
        }),
        await store.storeEvent("stream-a", message(3)),
      ];
    });
    expect((await replay(stub, ids[1] as string)).sent).toEqual([[ids[2], message(3)]]);
    // An id past the last it gave (a client's mistake) brings nothing, rather than everything again.
    expect((await replay(stub, "stream-a_99")).sent).toEqual([]);
  });

  it("says whether the log holds anything of a stream after an event, for a resumption to replay", async () => {
    const answer = (id: number) => ({ jsonrpc: "2.0" as const, id, result: {} });
    const outcome = await runInDurableObject(stubFor("event-log-more"), async (_instance, state) => {
      const store = new StorageEventStore(state.storage.kv);
      const answered = [await store.storeEvent("answered", message(1)), await store.storeEvent("answered", answer(1))];
      await store.storeEvent("other", message(2));
      return {
        beforeItsAnswer: store.hasMoreAfter(answered[0] as string),
        atItsAnswer: store.hasMoreAfter(answered[1] as string),
        unreadable: store.hasMoreAfter("not-an-event-id"),
      };
    });
    expect(outcome).toEqual({ beforeItsAnswer: true, atItsAnswer: false, unreadable: true });
  });
});
