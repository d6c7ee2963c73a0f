/**
 * How a user's traffic keeps reaching the origin instance that holds their stdio children and pending
 * exchanges. The origin names itself on every MCP answer with a header and an application cookie; the
 * balancer (the ALB, or local/balancer.ts) sticks on that cookie and answers with stickiness cookies of its own,
 * which the edge keeps per user and sends back.
 */

/** The origin's application cookie, the one the ALB's application-cookie stickiness is configured with. */
export const ORIGIN_AFFINITY_COOKIE = "MCP_ORIGIN";

/** The origin instance that answered, so the edge can tell a re-route from the same instance. */
export const ORIGIN_INSTANCE_HEADER = "mcp-origin-instance";

/** The balancer's stickiness cookies (the ALB names them AWSALBAPP-0 … AWSALBAPP-3). */
export const isBalancerCookie = (name: string): boolean => /^AWSALBAPP-\d+$/.test(name);
