import { AGGREGATED_NAME_SEPARATOR, serverOfPublicName } from "../../contract/aggregated-names.ts";
import { type AnswerRoute, parseAnswerRoute } from "../../contract/answer-outcome.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import type { RequestFacts } from "./inspect-request.ts";

/**
 * The longest public name on the aggregated endpoint that is `<server>__<name>` as it is: longer names are cut to 64
 * characters ending in a hash (aws/origin/aggregate/public-names.ts), and a 64-character one may be such a cut.
 */
const LONGEST_PLAIN_PUBLIC_NAME = 63;

/** What a request is audited under: its server, and in the `tool` column the name of what it used. */
export interface AuditedTarget {
  server: string;
  /** The upstream's tool (tools/call) or prompt (prompts/get) name, or the resource's URI (resources/read, …). */
  tool?: string;
}

/**
 * The same on `/mcp/<server>` and on the aggregated `/mcp`: there, the server and the upstream's own name are the
 * origin's label (`route`, from where it sent the request) when it gave one, else read from the public name
 * `<server>__<name>` (a request refused before it was routed); a shortened public name, which only the server's list
 * can read back, stays as the client sent it then.
 */
export function auditedTarget(
  server: string,
  message: RequestFacts,
  servers: readonly string[],
  route?: AnswerRoute,
): AuditedTarget {
  const name = message.tool ?? message.prompt;
  if (server !== ALL_SERVERS) return { server, tool: name ?? message.uri };
  if (route && servers.includes(route.server)) return routedTarget(route, name ?? message.uri);
  const owner = name === undefined ? undefined : serverOfPublicName(name, servers);
  if (name === undefined || owner === undefined) return { server: ALL_SERVERS, tool: name ?? message.uri };
  const plain = name.length <= LONGEST_PLAIN_PUBLIC_NAME;
  return { server: owner, tool: plain ? name.slice(`${owner}${AGGREGATED_NAME_SEPARATOR}`.length) : name };
}

/** Where the origin routed a request: its server, and the upstream's own name of a tool or prompt, else `used`. */
const routedTarget = (route: AnswerRoute, used: string | undefined): AuditedTarget => ({
  server: route.server,
  tool: route.name ?? used,
});

/**
 * An audit built before the request was routed (a session object's, held until its answer) under where the origin
 * says it went, once that is known (`route`, its ANSWER_ROUTE_HEADER): as `auditedTarget` has the Worker's.
 */
export function reroutedAudit<T extends { server?: string; tool?: string }>(
  audit: T,
  route: string | undefined,
  servers: readonly string[],
): T {
  const parsed = parseAnswerRoute(route ?? null);
  if (!parsed || !servers.includes(parsed.server)) return audit;
  return { ...audit, ...routedTarget(parsed, audit.tool) };
}
