import { describe, expect, it } from "vitest";
import { UnansweredWrites } from "../../aws/origin/hosting/unanswered-writes.ts";

// The suspects of a closing: whose requests the upstream read and did not answer (cancelled ones too), within a window.
describe("the requests a connection has not answered", () => {
  it("names each user with one written and not answered, once, and forgets an answered one", () => {
    const writes = new UnansweredWrites(60_000);
    const answerBob = writes.wrote("bob");
    writes.wrote("mallory"); // cancelled by her client: never answered
    writes.wrote("bob");
    expect(writes.users()).toEqual(["bob", "mallory"]);
    answerBob();
    expect(writes.users().sort()).toEqual(["bob", "mallory"]); // his other request is still out
  });

  it("forgets a request written longer ago than its window", async () => {
    const writes = new UnansweredWrites(50);
    writes.wrote("mallory");
    await new Promise((resolve) => setTimeout(resolve, 80));
    writes.wrote("bob");
    expect(writes.users()).toEqual(["bob"]);
  });
});
