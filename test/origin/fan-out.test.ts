import { describe, expect, it } from "vitest";
import { answerWithin, LeftOut } from "../../aws/origin/aggregate/fan-out.ts";
import { CONSENT_NEEDED_CODE } from "../../aws/origin/upstream-auth/consent.ts";

// Why a server is left out of an aggregated answer, as the origin's log and audit get it.
const answering = (error: { code: number; message: string }) => async () =>
  Response.json({ jsonrpc: "2.0", id: 1, error }, { headers: { "content-type": "application/json" } });

describe("a server left out of an aggregated answer", () => {
  it("is reported with its error, and the code kept for the caller to judge", async () => {
    const left = await answerWithin(answering({ code: -32603, message: "disk full" }), "files", 1_000).catch((e) => e);
    expect(left).toBeInstanceOf(LeftOut);
    expect(left.message).toBe("it answered error -32603: disk full");
    expect(left.code).toBe(-32603);
  });

  it("is reported without the user's consent link when it needs their consent: the link is theirs alone", async () => {
    const link = "https://as.example/authorize?state=single-use-state-of-the-user";
    const error = { code: CONSENT_NEEDED_CODE, message: `server "files" needs you to connect your account first: open ${link}` };
    const left = await answerWithin(answering(error), "files", 1_000).catch((e) => e);
    expect(left.message).toBe(`it answered error ${CONSENT_NEEDED_CODE}: the user has not connected their account there yet`);
    expect(left.message).not.toContain("state=");
    expect(left.code).toBe(CONSENT_NEEDED_CODE);
  });
});
