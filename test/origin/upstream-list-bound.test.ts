import { describe, expect, it } from "vitest";
import { createHostPool } from "../../aws/origin/hosting/host-pool.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A call of a tool name the origin has not seen listed makes it read the upstream's whole tool list; an upstream whose
// pages never end (each a different next cursor) must not make it hold page after page, nor do it again on every call.

const caller = { sub: "alice", server: "paging", clientId: "c", era: "modern" as const };

describe("a tools/call of an unlisted name on an upstream whose tool list never ends", () => {
  it("is refused with -32000 once the list is past what the origin reads, and the next call reads nothing", async () => {
    const lines: string[] = [];
    const pool = createHostPool({
      servers: {
        paging: {
          transport: "stdio",
          command: process.execPath,
          args: [new URL("../fixtures/hostile-upstream/stdio-front.ts", import.meta.url).pathname],
          env: { LIST_FLOOD: "2000" },
        } as never,
      },
      idleTimeoutMs: 60_000,
      maxProcesses: 2,
      host: testHostOptions,
      log: (line) => lines.push(line),
    });
    const pagesRead = () => lines.filter((line) => /list page \d+/.test(line)).length;
    const callUnknown = async () => {
      const { host, release } = await pool.acquire("paging", caller);
      try {
        const params = { name: "no_such_tool", arguments: {} };
        return (await messagesOf(await host.fetch(modernRequest("tools/call", params), caller))).at(-1);
      } finally {
        release();
      }
    };
    try {
      expect((await callUnknown())?.error).toEqual({
        code: -32000,
        message: "the upstream server lists more tools than the origin reads (10000 items, 16 MiB)",
      });
      // 2000 tools a page: the sixth page is past 10,000 (the SDK's own walk would read 64).
      await expect.poll(pagesRead).toBe(6);
      expect((await callUnknown())?.error).toMatchObject({ code: -32000 });
      expect(pagesRead()).toBe(6);
    } finally {
      await pool.close();
    }
  }, 30_000);
});
