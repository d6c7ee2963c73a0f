import type { Client } from "@modelcontextprotocol/client";
import { describe, expect, it } from "vitest";
import { ListedDefinitions, rememberListed, upstreamLists } from "../../aws/origin/hosting/listed-definitions.ts";

// What the origin knows of an upstream's prompts (and tools, resource templates) when a request names one: the policy
// and the pinned definitions decide on it, so it must be the whole list, and a failure to read it must refuse.

const prompt = (name: string) => ({ name, description: `${name} prompt` });

/** A client whose `listPrompts` (the SDK reads every page) answers from `pages` in turn, counting the reads. */
function fakeClient(...answers: (Record<string, unknown> | Error)[]) {
  let reads = 0;
  const client = {
    listPrompts: async () => {
      const answer = answers[Math.min(reads++, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as Client;
  return { client, reads: () => reads };
}

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
