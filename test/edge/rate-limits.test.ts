import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AuditQueueMessage } from "../../contract/audit-event.ts";
import type { RateLimiter } from "../../durable-objects/rate-limiter.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, CLIENT_REDIRECT, registerClient, signedInTokens } from "./sign-in.ts";

// Per client IP (Cloudflare's cf-connecting-ip) on /register, /oauth/token and /authorize: the request past the
// limit gets 429 with Retry-After, another IP is not affected, and refusals are audited as one count per minute.

/** A fresh address per call, so tests share no counters (a random one repeated now and then, and met another's). */
let addresses = 0;
const someIp = () => {
  addresses += 1;
  return `198.51.${100 + Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
};

/** Keeps a test's requests inside one one-minute window. */
async function awayFromTheMinuteBoundary() {
  if (Date.now() % 60_000 > 57_000) await new Promise((resolve) => setTimeout(resolve, 3_500));
}

const register = (ip: string, limits: Record<string, unknown>) =>
  callEdge(
    "/register",
    {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": ip },
      body: JSON.stringify({ client_name: "Flood", redirect_uris: [CLIENT_REDIRECT], token_endpoint_auth_method: "none" }),
    },
    limits,
  );

const limiterOf = (ip: string) => {
  const namespace = (env as unknown as EdgeEnv).RATE_LIMITER;
  return namespace.get(namespace.idFromName(`ip:${ip}`));
};

describe("rate limits of the authorization endpoints", () => {
  it("refuses registrations past the limit with 429 and Retry-After, per client IP", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_REGISTER_PER_MINUTE: "2" };
    const ip = someIp();
    expect((await register(ip, limits)).status).toBe(201);
    expect((await register(ip, limits)).status).toBe(201);
    const refused = await register(ip, limits);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({ error: "temporarily_unavailable" });
    expect((await register(`${ip}0`, limits)).status).toBe(201); // another address
  });

  it("refuses token requests past the limit", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_TOKEN_PER_MINUTE: "1" };
    const ip = someIp();
    const token = () =>
      callEdge(
        "/oauth/token",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "a:b:c", client_id: "x" }),
        },
        limits,
      );
    expect((await token()).status).not.toBe(429);
    const refused = await token();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
  });

  it("refuses authorization requests past the limit, with a page", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_AUTHORIZE_PER_MINUTE: "1" };
    const ip = someIp();
    const url = authorizeUrl(await registerClient(), (await pkcePair()).challenge);
    const open = () => callEdge(url, { headers: { "cf-connecting-ip": ip } }, limits);
    expect((await open()).status).toBe(200);
    const refused = await open();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
  });

  it("answers a valid refresh past the address's budget, which a page of another site may have spent (s24 hunt pages F13)", async () => {
    await awayFromTheMinuteBoundary();
    const clientId = await registerClient();
    const { refresh_token } = await signedInTokens(clientId);
    const audit = capturedAudit();
    const limits = { RATE_LIMIT_TOKEN_PER_MINUTE: "2", ...audit.env };
    const ip = someIp();
    const fromOffice = (params: Record<string, string>) =>
      callEdge(
        "/oauth/token",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
          body: new URLSearchParams(params),
        },
        limits,
      );
    // A page's CORS-mode posts (readable, so not refused for their mode) spend the office's budget...
    const junk = { grant_type: "refresh_token", refresh_token: "u:g:not-a-secret", client_id: clientId };
    for (let i = 0; i < 4; i++) await fromOffice(junk);
    expect((await fromOffice(junk)).status).toBe(429);
    // ...and a colleague's client still refreshes.
    const refreshed = await fromOffice({ grant_type: "refresh_token", refresh_token, client_id: clientId });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ access_token: expect.any(String) });
    // A revocation past the budget (answered 200 whatever its token) is not let through (s24 review R5).
    expect((await fromOffice({ token: "u:g:not-a-secret", client_id: clientId })).status).toBe(429);
    // The refusals within the budget are audited one by one; those past it only as the limit's count.
    const refused = audit.events.filter((event) => event.kind === "auth.denied");
    expect(refused.map((event) => event.method)).toEqual([
      "/oauth/token (refresh-token-grant/grant_not_found)",
      "/oauth/token (refresh-token-grant/grant_not_found)",
    ]);
  });

  it("counts the dashboard sign-in's code exchanges against the browser's address: made-up codes past it go unaudited (s25 review F9)", async () => {
    await awayFromTheMinuteBoundary();
    const audit = capturedAudit();
    const limits = { RATE_LIMIT_TOKEN_PER_MINUTE: "2", ...audit.env };
    const ip = someIp();
    // Anyone can start a sign-in and come back to /ops/callback with its cookie, as often as they like, and any code.
    const start = await callEdge("/ops", {}, limits);
    const state = new URL(start.headers.get("location") ?? "").searchParams.get("state") ?? "";
    const cookie = start.headers
      .getSetCookie()
      .map((line) => line.split(";")[0])
      .join("; ");
    const back = `/ops/callback?${new URLSearchParams({ state, code: "u:g:not-a-secret" })}`;
    for (let i = 0; i < 4; i++) {
      expect((await callEdge(back, { headers: { cookie, "cf-connecting-ip": ip } }, limits)).status).toBe(400);
    }
    // The refusals within the budget are audited one by one; those past it only as the limit's count.
    const refused = audit.events.filter((event) => event.kind === "auth.denied");
    expect(refused.map((event) => event.method)).toEqual([
      "/ops/callback (authorization-code-grant/grant_not_found)",
      "/ops/callback (authorization-code-grant/grant_not_found)",
    ]);
  });

  it("refuses uncounted what a page of another site makes the browser send unreadably (images, frames, no-cors)", async () => {
    await awayFromTheMinuteBoundary();
    const ip = someIp();
    const url = authorizeUrl(await registerClient(), (await pkcePair()).challenge);
    const limits = { RATE_LIMIT_AUTHORIZE_PER_MINUTE: "1", RATE_LIMIT_TOKEN_PER_MINUTE: "1" };
    const asImage = { "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image", "sec-fetch-site": "cross-site" };
    const inFrame = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site" };
    for (const headers of [asImage, inFrame, asImage]) {
      const refused = await callEdge(url, { headers: { ...headers, "cf-connecting-ip": ip } }, limits);
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain("Open this sign-in address as a page of its own");
    }
    const noCorsToken = await callEdge(
      "/oauth/token",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip, "sec-fetch-mode": "no-cors" },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: "u:g:x", client_id: "x" }),
      },
      limits,
    );
    expect(noCorsToken.status).toBe(400);
    expect(await noCorsToken.json()).toMatchObject({ error: "invalid_request" });
    // A form posted into a frame (destination iframe) or as text (no preflight) is no API client: refused uncounted.
    const framedForm = await callEdge(
      "/register",
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip, ...inFrame },
        body: "client_name=x",
      },
      { RATE_LIMIT_REGISTER_PER_MINUTE: "1" },
    );
    expect(framedForm.status).toBe(415);
    const asText = { "content-type": "text/plain", "cf-connecting-ip": ip, "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" };
    for (let i = 0; i < 3; i++)
      expect(
        (await callEdge("/register", { method: "POST", headers: asText, body: "{}" }, { RATE_LIMIT_REGISTER_PER_MINUTE: "1" }))
          .status,
      ).toBe(415);
    expect((await register(ip, { RATE_LIMIT_REGISTER_PER_MINUTE: "1" })).status).toBe(201);
    // None of them counted: the person's own navigation (a top-level document) gets the page.
    const navigation = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-site": "cross-site" };
    expect((await callEdge(url, { headers: { ...navigation, "cf-connecting-ip": ip } }, limits)).status).toBe(200);
  });

  it("audits refusals as one count per address, endpoint and minute, not one event per request", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_REGISTER_PER_MINUTE: "1" };
    const ip = someIp();
    for (let i = 0; i < 6; i++) await register(ip, limits);
    const stub = limiterOf(ip);
    const alarm = await runInDurableObject(stub, (_: RateLimiter, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now()); // set for the end of the window
    const audit = capturedAudit();
    await runInDurableObject(stub, async (limiter: RateLimiter) => {
      Object.assign((limiter as unknown as { env: object }).env, audit.env);
      await limiter.reportRefused(Date.now() + 61_000); // as the alarm does once the minute is over
    });
    // Durable Objects of one class share their env in this runtime: another limiter's alarm (an earlier test's, due at
    // a minute's end) may land in this capture. Its address's counts are not this one's: only ours are looked at.
    const counted = audit.events.filter((event) => event.method === "/register" && (event.count ?? 1) > 1);
    expect(counted).toEqual([
      expect.objectContaining({ kind: "auth.rate_limited", method: "/register", outcome: "denied", httpStatus: 429, count: 5 }),
    ]);
  });

  it("keeps the refusals when the audit queue fails, reports them on the retry, then deletes the address's storage", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_REGISTER_PER_MINUTE: "1" };
    const ip = someIp();
    for (let i = 0; i < 4; i++) await register(ip, limits);
    const stub = limiterOf(ip);
    const afterTheMinute = Date.now() + 61_000;
    const failed = await runInDurableObject(stub, async (limiter: RateLimiter) => {
      const failing = { sendBatch: async () => Promise.reject(new Error("queue unavailable")) };
      Object.assign((limiter as unknown as { env: object }).env, { AUDIT_QUEUE: failing });
      return limiter.reportRefused(afterTheMinute).then(
        () => "sent",
        (error: Error) => error.message,
      );
    });
    expect(failed).toBe("queue unavailable");
    const audit = capturedAudit();
    const stored = await runInDurableObject(stub, async (limiter: RateLimiter, state) => {
      Object.assign((limiter as unknown as { env: object }).env, audit.env);
      // A request in the next minute: its window is still open when the closed one is reported.
      await limiter.take("/oauth/token", 5, afterTheMinute);
      await limiter.reportRefused(afterTheMinute);
      await limiter.reportRefused(afterTheMinute); // the alarm again, for the open window: nothing reported twice
      const whileOpen = [...state.storage.kv.list()].length;
      await limiter.reportRefused(afterTheMinute + 60_000);
      return { whileOpen, atTheEnd: [...state.storage.kv.list()].length };
    });
    expect(audit.events.filter((event) => event.method === "/register" && (event.count ?? 1) > 1)).toEqual([
      expect.objectContaining({ count: 3 }),
    ]);
    expect(stored).toEqual({ whileOpen: 2, atTheEnd: 0 });
  });

  it("reports a window under the same id on every attempt, so a send that failed after the queue took it is stored once", async () => {
    await awayFromTheMinuteBoundary();
    const limits = { RATE_LIMIT_REGISTER_PER_MINUTE: "1" };
    const ip = someIp();
    for (let i = 0; i < 3; i++) await register(ip, limits);
    const afterTheMinute = Date.now() + 61_000;
    const ids = await runInDurableObject(limiterOf(ip), async (limiter: RateLimiter) => {
      const sent: { id: string; method?: string; count?: number }[] = [];
      // The queue takes the batch, and the answer is lost on the way: the send fails all the same.
      const takesThenFails = {
        sendBatch: async (messages: { body: (typeof sent)[number] }[]) => {
          sent.push(...messages.map((message) => message.body));
          throw new Error("network connection lost");
        },
      };
      // The objects share one env: the real queue is put back, or the next test's object would send to this one.
      const env = (limiter as unknown as { env: { AUDIT_QUEUE: unknown } }).env;
      const queue = env.AUDIT_QUEUE;
      env.AUDIT_QUEUE = takesThenFails;
      try {
        for (let attempt = 0; attempt < 2; attempt++) await limiter.reportRefused(afterTheMinute).catch(() => {});
      } finally {
        env.AUDIT_QUEUE = queue;
      }
      return sent.filter((event) => event.method === "/register").map((event) => event.id);
    });
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("reports more than 100 windows left by a queue outage in sends of at most 100, keeping a part the queue refused", async () => {
    const minute = 60_000;
    const start = Date.now() - 200 * minute;
    const outcome = await runInDurableObject(limiterOf(someIp()), async (limiter: RateLimiter, state) => {
      // 101 minutes of refusals from an address hammering /oauth/token while every alarm's send failed.
      for (let i = 0; i < 101; i++) await limiter.noteRefused("/oauth/token", undefined, start + i * minute);
      const env = (limiter as unknown as { env: { AUDIT_QUEUE: Queue<AuditQueueMessage> } }).env;
      const queue = env.AUDIT_QUEUE;
      const sizes: number[] = [];
      const reported: number[] = [];
      // The real queue (it refuses a sendBatch of more than 100 messages), watched; the second send fails, as a queue
      // still recovering may.
      env.AUDIT_QUEUE = Object.assign(Object.create(queue), {
        sendBatch: async (messages: MessageSendRequest<AuditQueueMessage>[]) => {
          if (sizes.push(messages.length) === 2) throw new Error("queue unavailable");
          await queue.sendBatch(messages);
          for (const { body } of messages) reported.push(...[body].flat().map((event) => event.count ?? 1));
        },
      });
      try {
        const first = await limiter.reportRefused().then(
          () => "sent",
          (error: Error) => error.message,
        );
        const leftAfterFirst = limiter.closedRefusals().length;
        await limiter.reportRefused();
        return { first, leftAfterFirst, sizes, reported, left: [...state.storage.kv.list()].length };
      } finally {
        env.AUDIT_QUEUE = queue;
      }
    });
    expect(outcome.first).toBe("queue unavailable");
    expect(outcome.leftAfterFirst).toBe(1); // the first 100 were sent and forgotten
    expect(outcome.sizes).toEqual([100, 1, 1]);
    expect(outcome.reported).toHaveLength(101); // every window, once
    expect(outcome.reported.every((count) => count === 1)).toBe(true);
    expect(outcome.left).toBe(0); // nothing left to report: the address's storage is deleted
  });

  it("deletes the storage of an address that was never refused once its window closes", async () => {
    await awayFromTheMinuteBoundary();
    const ip = someIp();
    expect((await register(ip, { RATE_LIMIT_REGISTER_PER_MINUTE: "5" })).status).toBe(201);
    const stub = limiterOf(ip);
    const before = await runInDurableObject(stub, async (_: RateLimiter, state) => ({
      kept: [...state.storage.kv.list()].length,
      alarm: await state.storage.getAlarm(),
    }));
    expect(before.kept).toBe(1);
    expect(before.alarm).toBeGreaterThan(Date.now()); // set for the end of the window, refusals or not
    const after = await runInDurableObject(stub, async (limiter: RateLimiter, state) => {
      await limiter.reportRefused(Date.now() + 61_000);
      return [...state.storage.kv.list()].length;
    });
    expect(after).toBe(0);
  });

  it("does not limit requests that did not come through Cloudflare's edge (no cf-connecting-ip)", async () => {
    const limits = { RATE_LIMIT_REGISTER_PER_MINUTE: "1" };
    const noIp = () =>
      callEdge(
        "/register",
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ client_name: "Local", redirect_uris: [CLIENT_REDIRECT], token_endpoint_auth_method: "none" }),
        },
        limits,
      );
    expect((await noIp()).status).toBe(201);
    expect((await noIp()).status).toBe(201);
  });
});
