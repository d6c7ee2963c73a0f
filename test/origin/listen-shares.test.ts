import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { ListenShares } from "../../aws/origin/hosting/listen-shares.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import {
  LISTENS_PER_CONNECTION,
  DEFAULT_LISTENS_PER_USER as LISTENS_PER_USER,
  OriginConfig,
} from "../../contract/config/schema.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { acknowledgedListen as acknowledged } from "./listen-stream.ts";
import { modernRequest, testHostOptions } from "./modern-request.ts";
import { originUnderTest, TEST_INSTANCE } from "./origin-under-test.ts";

// One connection serves every user of a `shared` server, and the SDK bounds the listens of one connection. A user's
// listens are bounded first, per server, so that one user holding many cannot refuse everyone else's. Real stdio
// upstream, the origin's MCP route in-process.

const servers = { board: { ...catalogServer({ name: "board", tools: [{ name: "echo" }] }), sharing: "shared" as const } };
let pool: HostPool;
beforeAll(() => {
  pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 4, host: testHostOptions, log: () => {} });
});
afterAll(() => pool.close());

const who = (sub: string) =>
  ({
    sub,
    email: `${sub}@example.com`,
    groups: [],
    client_id: "c",
    server: "board",
    purpose: "mcp",
    jti: sub,
    exp: 0,
  }) as unknown as VerifiedAssertion;
const listen = (shares: ListenShares, sub: string) =>
  serveMcp(
    pool,
    "board",
    who(sub),
    modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }, { id: 7 }),
    undefined,
    {
      listens: shares,
    },
  );

describe("each user's share of a server's listens", () => {
  it("refuses a user's listen past their share, with a JSON-RPC error naming it, while another user still listens", async () => {
    const shares = new ListenShares(3);
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const held = [];
    try {
      for (let n = 0; n < 3; n++) held.push((await acknowledged(await listen(shares, "mallory"))).reader);
      const refused = await listen(shares, "mallory");
      expect(refused.status).toBe(429);
      expect(await refused.json()).toEqual({
        jsonrpc: "2.0",
        id: 7,
        error: {
          code: -32000,
          message:
            'too many open subscriptions/listen streams: at most 3 per user on server "board" (relay.listensPerUser); close one and listen again',
        },
      });
      expect(String(warned.mock.calls.at(-1)?.[0])).not.toContain("mallory");
      held.push((await acknowledged(await listen(shares, "alice"))).reader);
      expect(shares.open("mallory", "board")).toBe(3);

      // A listen that ends gives its share back.
      await held[0]?.cancel();
      await vi.waitFor(() => expect(shares.open("mallory", "board")).toBe(2));
      held.push((await acknowledged(await listen(shares, "mallory"))).reader);
    } finally {
      warned.mockRestore();
      for (const reader of held) await reader?.cancel();
    }
  });

  it("takes each user's share from relay.listensPerUser", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const origin = await originUnderTest({ parts: { pool, listensPerUser: 1 } });
    const claims = { sub: "erin", client_id: "c", server: "board", purpose: "mcp", instance: TEST_INSTANCE };
    const send = async () => {
      const request = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }, { id: 7 });
      return origin.call("/servers/board/mcp", { method: "POST", headers: request.headers, body: await request.text() }, claims);
    };
    const { reader } = await acknowledged(await send());
    try {
      const refused = await send();
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("at most 1 per user");
    } finally {
      warned.mockRestore();
      await reader?.cancel();
    }
  });

  it("takes a share of at most a quarter of what a shared connection holds, so that one user cannot fill it (s23 review L1)", () => {
    const accepted = (listensPerUser: number) =>
      OriginConfig.safeParse({
        publicUrl: "https://origin.example.com",
        edgeIssuer: "https://mcp.example.com",
        relay: { listensPerUser },
      }).success;
    expect(accepted(LISTENS_PER_CONNECTION / 4)).toBe(true);
    expect(accepted(LISTENS_PER_CONNECTION / 4 + 1)).toBe(false);
  });

  it("lets users together hold more listens on one shared connection than the SDK's default of 1,024", {
    timeout: 120_000,
  }, async () => {
    const shares = new ListenShares(LISTENS_PER_USER);
    const held = [];
    try {
      for (let user = 0; user < 9; user++) {
        const opened = await Promise.all(
          Array.from({ length: LISTENS_PER_USER }, () =>
            listen(shares, `user-${user}`).then(async (response) => (await acknowledged(response)).reader),
          ),
        );
        held.push(...opened);
      }
      expect(held).toHaveLength(9 * LISTENS_PER_USER);
    } finally {
      await Promise.all(held.map((reader) => reader.cancel()));
    }
  });
});
