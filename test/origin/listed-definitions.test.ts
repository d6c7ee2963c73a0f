import type { Client } from "@modelcontextprotocol/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  FAILED_READ_MEMORY_MS,
  LIST_BOUNDS,
  ListedDefinitions,
  rememberListed,
  upstreamLists,
} from "../../aws/origin/hosting/listed-definitions.ts";

// What the origin knows of an upstream's prompts (and tools, resource templates) when a request names one: the policy
// and the pinned definitions decide on it, so it must be the whole list, and a failure to read it must refuse.

const prompt = (name: string) => ({ name, description: `${name} prompt` });

/** A client whose `prompts/list` answers are `answers` in turn (a page each), counting the reads. */
function fakeClient(...answers: (Record<string, unknown> | Error)[]) {
  return pagingClient(async () => {
    const answer = answers[Math.min(reads.count - 1, answers.length - 1)];
    if (answer instanceof Error) throw answer;
    return answer as Record<string, unknown>;
  });
}

const reads = { count: 0 };

/** A client with prompts whose `prompts/list` page for a cursor is `page(cursor, signal)`. */
function pagingClient(page: (cursor: string | undefined, signal: AbortSignal) => Promise<Record<string, unknown>>) {
  reads.count = 0;
  const client = {
    getServerCapabilities: () => ({ prompts: {} }),
    request: async (message: { params?: { cursor?: string } }, _schema: unknown, options: { signal: AbortSignal }) => {
      reads.count++;
      return page(message.params?.cursor, options.signal);
    },
  } as unknown as Client;
  return { client, reads: () => reads.count };
}

/** Pages of `per` prompts whose next cursor never ends. */
const endlessPages = (per: number) =>
  pagingClient(async (cursor) => {
    const page = Number(cursor ?? 0);
    return { prompts: Array.from({ length: per }, (_, i) => prompt(`p${page}_${i}`)), nextCursor: String(page + 1) };
  });

describe("an upstream's listed definitions", () => {
  it("reads the whole list when a client listed only its first page", async () => {
    const { client, reads } = fakeClient({ prompts: [prompt("one"), prompt("two")] });
    const lists = upstreamLists(client);
    rememberListed(lists, "prompts/list", undefined, { prompts: [prompt("one")], nextCursor: "page-2" });
    await lists.prompts.ensureLoaded();
    expect(lists.prompts.get("two")).toEqual(prompt("two"));
    expect(reads()).toBe(1);
  });

  it("reads nothing more after a relayed list that was whole", async () => {
    const { client, reads } = fakeClient({ prompts: [] });
    const lists = upstreamLists(client);
    rememberListed(lists, "prompts/list", undefined, { prompts: [prompt("one")] });
    await lists.prompts.ensureLoaded();
    expect([lists.prompts.get("one"), reads()]).toEqual([prompt("one"), 0]);
  });

  it("refuses when the list cannot be read, and reads again next time", async () => {
    const { client } = fakeClient(new Error("connection reset"), { prompts: [prompt("one")] });
    const prompts = new ListedDefinitions(client, "prompts");
    await expect(prompts.ensureLoaded()).rejects.toThrow("connection reset");
    await prompts.ensureLoaded();
    expect(prompts.get("one")).toEqual(prompt("one"));
  });

  it("has nothing to learn from an upstream without such a list (method not found)", async () => {
    const { client, reads } = fakeClient(Object.assign(new Error("Method not found"), { code: -32601 }));
    const prompts = new ListedDefinitions(client, "prompts");
    await prompts.ensureLoaded();
    await prompts.ensureLoaded();
    expect([prompts.all(), reads()]).toEqual([[], 1]);
  });
});

describe("reading a whole list an upstream pages without end", () => {
  afterEach(() => vi.restoreAllMocks());

  it("stops past the items it reads, says so, and does not read again for a while", async () => {
    const { client, reads } = endlessPages(1000);
    const prompts = new ListedDefinitions(client, "prompts");
    const tooMany = /^the upstream server lists more prompts than the origin reads \(10000 items, 16 MiB\)$/;
    await expect(prompts.ensureLoaded()).rejects.toMatchObject({ code: -32000, message: expect.stringMatching(tooMany) });
    expect(reads()).toBe(LIST_BOUNDS.items / 1000 + 1);
    // Every request needing the list is refused at once, without a read, until the failure is forgotten.
    await expect(prompts.ensureLoaded()).rejects.toThrow(tooMany);
    await expect(prompts.reload()).rejects.toThrow(tooMany);
    expect(reads()).toBe(LIST_BOUNDS.items / 1000 + 1);
    const later = Date.now() + FAILED_READ_MEMORY_MS + 1;
    vi.spyOn(Date, "now").mockReturnValue(later);
    await expect(prompts.ensureLoaded()).rejects.toThrow(tooMany);
    expect(reads()).toBe(2 * (LIST_BOUNDS.items / 1000 + 1));
  });

  it("stops past the bytes it reads", async () => {
    const big = (name: string) => ({ name, description: "d".repeat(1024 * 1024) });
    const { client, reads } = pagingClient(async (cursor) => ({ prompts: [big(`p${cursor}`)], nextCursor: `${cursor}x` }));
    const prompts = new ListedDefinitions(client, "prompts");
    await expect(prompts.ensureLoaded()).rejects.toThrow(/lists more prompts than the origin reads/);
    expect(reads()).toBe(16);
  });

  it("counts the bytes of non-ASCII text, not its characters: CJK pages stop after as many bytes", async () => {
    // About 1 MiB of UTF-8 a page, but a third of that in UTF-16 characters: counted in characters, 48 pages would pass.
    const big = (name: string) => ({ name, description: "語".repeat(350_000) });
    expect(Buffer.byteLength(JSON.stringify([big("p")]))).toBeGreaterThan(1024 * 1024);
    const { client, reads } = pagingClient(async (cursor) => ({ prompts: [big(`p${cursor}`)], nextCursor: `${cursor}x` }));
    const prompts = new ListedDefinitions(client, "prompts");
    await expect(prompts.ensureLoaded()).rejects.toThrow(/lists more prompts than the origin reads/);
    expect(reads()).toBe(16);
  });

  it("stops past the pages it reads (empty pages too)", async () => {
    const { client, reads } = endlessPages(0);
    const prompts = new ListedDefinitions(client, "prompts");
    await expect(prompts.ensureLoaded()).rejects.toThrow(/lists its prompts on more pages than the origin reads \(100\)/);
    expect(reads()).toBe(LIST_BOUNDS.pages);
  });

  it("gives all its pages one deadline, and reads again once the upstream says the list changed", async () => {
    const { client, reads } = pagingClient(
      (cursor, signal) =>
        new Promise((resolve, reject) => {
          // Each page comes after 30 ms: under any per-page timeout, but the whole list never within 100 ms.
          const timer = setTimeout(() => resolve({ prompts: [prompt(`p${cursor}`)], nextCursor: `${cursor}x` }), 30);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        }),
    );
    const prompts = new ListedDefinitions(client, "prompts", 100);
    await expect(prompts.ensureLoaded()).rejects.toMatchObject({
      code: -32000,
      message: "the upstream server did not list its prompts within 0 s",
    });
    expect(reads()).toBeLessThan(6);
    prompts.forget();
    await expect(prompts.ensureLoaded()).rejects.toThrow(/did not list its prompts/);
    expect(reads()).toBeGreaterThan(4);
  });

  it("ends the list at a page that repeats the cursor it was asked for", async () => {
    const { client } = pagingClient(async (cursor) => ({ prompts: [prompt(`p${cursor ?? ""}`)], nextCursor: "same" }));
    const prompts = new ListedDefinitions(client, "prompts");
    await prompts.ensureLoaded();
    expect(prompts.all().map((item) => item.name)).toEqual(["p", "psame"]);
  });
});
