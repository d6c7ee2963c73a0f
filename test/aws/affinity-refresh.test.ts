import { describe, expect, it } from "vitest";
import { STICKINESS_DURATION } from "../../aws/cdk/service/load-balancer.ts";
import { AFFINITY_REFRESH_MS } from "../../contract/origin-affinity.ts";
import { DEFAULT_STICKINESS_MS } from "../../local/balancer.ts";

// The edge refreshes a user's balancer cookies (worker/upstream/affinity.ts) so that the ALB never sees one past
// its stickiness duration while the user is active: the refresh interval must stay well below that duration.

describe("the edge's refresh of balancer cookies against the ALB's stickiness duration", () => {
  it("refreshes at least twelve times within the duration", () => {
    expect(AFFINITY_REFRESH_MS * 12).toBeLessThanOrEqual(STICKINESS_DURATION.toMilliseconds());
  });

  it("has the local balancer honour its cookie as long as the ALB does", () => {
    expect(DEFAULT_STICKINESS_MS).toBe(STICKINESS_DURATION.toMilliseconds());
  });
});
