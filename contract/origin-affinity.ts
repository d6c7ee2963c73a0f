/**
 * How a user's traffic keeps reaching the origin instance that holds their stdio children and pending
 * exchanges. The origin names itself on every MCP answer with a header and an application cookie; the
 * balancer (the ALB, or local/balancer.ts) sticks on that cookie and answers with stickiness cookies of its own,
 * which the edge keeps per user and sends back. The balancer issues them afresh on every such answer and honours
 * each only for its stickiness duration after issuing it (1 day, aws/cdk/service/load-balancer.ts), so the edge
 * replaces the ones it keeps with fresh ones of the same instance well before that (worker/upstream/affinity.ts).
 */

/** The origin's application cookie, the one the ALB's application-cookie stickiness is configured with. */
export const ORIGIN_AFFINITY_COOKIE = "MCP_ORIGIN";

/** The origin instance that answered, so the edge can tell a re-route from the same instance. */
export const ORIGIN_INSTANCE_HEADER = "mcp-origin-instance";

/** The balancer's stickiness cookies (the ALB names them AWSALBAPP-0 … AWSALBAPP-3). */
export const isBalancerCookie = (name: string): boolean => /^AWSALBAPP-\d+$/.test(name);

/**
 * How old a user's stored balancer cookies may grow while the user stays on one instance before the fresh ones of
 * that instance's next answer replace them. The ALB honours its stickiness cookies only for the stickiness duration
 * after it issued them (1 day: `STICKINESS_DURATION` in aws/cdk/service/load-balancer.ts, set on the target group
 * in aws/cdk/service/origin-service.ts); a user sending an older one is balanced anew and may lose their children.
 * This interval must stay well below that duration (test/aws/affinity-refresh.test.ts checks it): an hour costs
 * one Durable Object write per active user an hour, and leaves the user a day less an hour of idleness.
 */
export const AFFINITY_REFRESH_MS = 60 * 60 * 1000;

/**
 * Test only: a Worker variable that shortens `AFFINITY_REFRESH_MS` (never lengthens it), so that the end-to-end
 * tests, with the local balancer's stickiness duration shortened too, see refreshes in seconds.
 */
export const TEST_AFFINITY_REFRESH_VARIABLE = "TEST_ORIGIN_AFFINITY_REFRESH_MS";
