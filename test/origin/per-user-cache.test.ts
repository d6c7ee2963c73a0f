import { describe, expect, it } from "vitest";
import { perUserCache } from "../../aws/origin/identity/google/per-user-cache.ts";

describe("a per-user cache of Directory answers", () => {
  it("dates an answer from when the Directory was asked, not from when it answered", async () => {
    const cache = perUserCache(60_000, async (key) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return key;
    });
    const asked = Date.now();
    const found = await cache("dev@example.com");
    expect(found.foundAt).toBeLessThanOrEqual(asked + 50);
  });

  it("shares one look-up in flight, and reads again for a caller that takes no answer that old", async () => {
    let lookUps = 0;
    const cache = perUserCache(60_000, async () => ++lookUps);
    const [first, second] = await Promise.all([cache("a"), cache("a")]);
    expect([first.value, second.value]).toEqual([1, 1]);
    expect((await cache("a")).value).toBe(1);
    expect((await cache("a", 0)).value).toBe(2);
  });
});
