import { describe, expect, inject, it } from "vitest";
import type { ListNotification } from "../../worker/mcp/bridge/listen.ts";
import { listenWhileOpen } from "../../worker/mcp/bridge/listen-while-open.ts";
import { originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { authorizationLapsed, claimsOf, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import { testEnv } from "./edge-env.ts";

// A 2024-11-05 session's listen at the origin, against a stand-in origin (test/edge/node/) whose every listen is
// acknowledged and then ends at once, as when the origin is deployed or an aggregated server's listen ends.

const record = (capabilities: SessionRecord["discover"]["capabilities"]): SessionRecord => ({
  sessionId: "s".repeat(43),
  identity: { sub: "alice", groups: [], clientId: "client-1", server: "everything" },
  initialize: { protocolVersion: "2024-11-05", capabilities: {}, clientInfo: { name: "c", version: "1" } },
  discover: { serverInfo: { name: "everything", version: "1" }, capabilities },
  subscriptions: [],
  createdAt: Date.now(),
});

async function standInOrigin() {
  const url = `${inject("groupsOriginUrl")}/l-${crypto.randomUUID().slice(0, 8)}`;
  const acknowledgement = { jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: {} };
  await fetch(`${url}/_control/answer`, { method: "POST", body: JSON.stringify(acknowledgement) });
  const listens = async () => ((await (await fetch(`${url}/_control/seen`)).json()) as unknown[]).length;
  return { link: originLinkOf(testEnv({ ORIGIN_URL: url })), listens };
}

const until = async (condition: () => boolean | Promise<boolean>) => {
  for (let tries = 0; !(await condition()); tries++) {
    if (tries > 200) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe("a 2024-11-05 session's listen", () => {
  it("is begun again when the origin's ends, and announces what may have been missed meanwhile", async () => {
    const { link, listens } = await standInOrigin();
    const session = record({ tools: { listChanged: true } });
    const delivered: ListNotification[] = [];
    const controller = new AbortController();
    const listening = listenWhileOpen({
      origin: link,
      record: () => session,
      claims: () => claimsOf(session.identity),
      signal: controller.signal,
      deliver: async (notification) => void delivered.push(notification),
      pauseMs: { first: 10, longest: 20 },
    });
    await until(async () => (await listens()) >= 3 && delivered.length >= 2);
    expect(delivered[0]).toEqual({ method: "notifications/tools/list_changed" });
    controller.abort();
    await listening;
    const after = await listens();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await listens()).toBe(after);
  });

  it("signs no new listen once the caller's token has expired, and says so (the stream is then closed)", async () => {
    const { link, listens } = await standInOrigin();
    const session = record({ tools: { listChanged: true } });
    let tokenExpiresAt = Math.floor(Date.now() / 1000) + 3600;
    let signed = 0;
    const listening = listenWhileOpen({
      origin: link,
      record: () => session,
      claims: () => {
        signed += 1;
        return claimsOf(session.identity);
      },
      signal: new AbortController().signal,
      deliver: async () => {},
      lapsed: () => authorizationLapsed({ ...session.identity, tokenExpiresAt }),
      pauseMs: { first: 10, longest: 20 },
    });
    await until(async () => (await listens()) >= 2);
    tokenExpiresAt = Math.floor(Date.now() / 1000) - 1;
    expect(await listening).toBe("lapsed");
    const after = { listens: await listens(), signed };
    expect(after.signed).toBe(after.listens);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect({ listens: await listens(), signed }).toEqual(after);
  });

  it("asks nothing of the origin when there is nothing to listen for", async () => {
    const { link, listens } = await standInOrigin();
    const session = record({ tools: {} });
    await listenWhileOpen({
      origin: link,
      record: () => session,
      claims: () => claimsOf(session.identity),
      signal: new AbortController().signal,
      deliver: async () => {},
    });
    expect(await listens()).toBe(0);
  });
});
