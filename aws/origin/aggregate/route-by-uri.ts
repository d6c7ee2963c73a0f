import { INVALID_PARAMS, UriTemplate } from "@modelcontextprotocol/server";
import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import type { Aggregation } from "./aggregation.ts";
import { wholeList } from "./lists.ts";
import { errorAnswer, type RequestId } from "./messages.ts";
import { routeName } from "./route-by-name.ts";

/** The MCP error for a resource no server has (the specification's "resource not found"). */
const RESOURCE_NOT_FOUND = -32002;
/** The proxy's error for an upstream it could not reach (the edge's `upstreamUnavailable`). */
const UPSTREAM_UNAVAILABLE = -32000;

/**
 * Where a resource URI goes: its server, or the servers that all claim it (then it goes nowhere), or nowhere until
 * the servers that did not list their resources do, or nowhere.
 */
export type UriRoute =
  | { server: string }
  | { ambiguous: string[] }
  | { unanswered: string[] }
  | { withheld: string[] }
  | undefined;

/**
 * Routes resource URIs, reading each server's resources and templates once however many URIs it routes. A URI goes
 * to the one server whose `resources/list` has it; else to the server whose matching template has the longest fixed
 * beginning (`github://repos/{owner}` before a catch-all `{+uri}`). Two servers listing it, or matching it equally
 * well, make it ambiguous: it is refused, never sent to one of them (another server's catch-all template must not
 * receive a URI, and what the user reads with it). While a server has not listed its resources (it failed, or is
 * still starting), a URI no template fixing its scheme takes is refused, naming that server. URIs are passed through
 * unchanged, so a link a tool returns stays valid.
 */
export async function uriRouter(aggregation: Aggregation): Promise<(uri: string) => UriRoute> {
  const [listed, templates] = await Promise.all([
    aggregation.collect("resources/list", (server) => wholeList(aggregation, server, "resources/list")),
    aggregation.collect("resources/templates/list", (server) => wholeList(aggregation, server, "resources/templates/list")),
  ]);
  const withheld = aggregation.contentsWithheld;
  const unanswered = aggregation.permitted.filter((server) => !listed.has(server) && !withheld.includes(server));
  return (uri) => {
    const listing = [...listed].filter(([, resources]) => resources.some((resource) => resource.uri === uri));
    if (listing.length > 0) return onlyOne(listing.map(([server]) => server));
    let best: { servers: string[]; fixed: number } = { servers: [], fixed: -1 };
    for (const [server, list] of templates) {
      for (const template of list) {
        const fixed = fixedBeginning(template.uriTemplate, uri);
        if (fixed > best.fixed) best = { servers: [server], fixed };
        else if (fixed === best.fixed && fixed >= 0 && !best.servers.includes(server)) best.servers.push(server);
      }
    }
    // A server that did not answer may list the URI: while it has not, a template that does not even fix the URI's
    // scheme (a catch-all) gets nothing, or that server's URI (and what the user reads with it) would go elsewhere.
    if (unanswered.length > 0 && best.fixed < uri.indexOf(":") + 1) return { unanswered };
    // Likewise a server whose resources the user may not see (its lists answer empty): the URI may be one of its, and
    // reading it through another server's catch-all would read it all the same.
    if (withheld.length > 0 && best.fixed < uri.indexOf(":") + 1) return { withheld: [...withheld] };
    return best.servers.length > 0 ? onlyOne(best.servers) : undefined;
  };
}

const onlyOne = (servers: string[]): UriRoute =>
  servers.length === 1 ? { server: servers[0] as string } : { ambiguous: servers };

/** How many characters the template fixes before its first expression, when it matches `uri`; -1 when it does not. */
function fixedBeginning(template: unknown, uri: string): number {
  if (typeof template !== "string") return -1;
  try {
    if (new UriTemplate(template).match(uri) === null) return -1;
  } catch {
    return -1;
  }
  const expression = template.indexOf("{");
  return expression === -1 ? template.length : expression;
}

/** The refusal of a URI that goes nowhere, or to several servers at once. */
export function unroutedUri(id: RequestId | null, uri: string, route: UriRoute): Response {
  if (route && "unanswered" in route) {
    const servers = route.unanswered.map((server) => `"${server}"`).join(", ");
    return errorAnswer(
      200,
      id,
      UPSTREAM_UNAVAILABLE,
      `the resource ${uri} cannot be placed while ${servers} did not answer (starting, or failing); try again shortly`,
    );
  }
  if (route && "withheld" in route) {
    const servers = route.withheld.map((server) => `"${server}"`).join(", ");
    return errorAnswer(
      200,
      id,
      POLICY_DENIED_CODE,
      `refused by policy: no server whose resources you may use has the resource ${uri}, and it may be one of ${servers}, whose resources you may not use`,
    );
  }
  if (route && "ambiguous" in route) {
    const servers = route.ambiguous.join(" and ");
    return errorAnswer(
      200,
      id,
      INVALID_PARAMS,
      `the resource ${uri} is claimed by ${servers} alike; read it at one server's own endpoint`,
    );
  }
  return errorAnswer(200, id, RESOURCE_NOT_FOUND, `no server you may use has the resource ${uri}`);
}

/** `resources/read`: to the server that serves the URI. */
export async function forwardByUri(aggregation: Aggregation): Promise<Response> {
  const { params, id } = aggregation.message;
  if (typeof params.uri !== "string") return errorAnswer(200, id, INVALID_PARAMS, "expected the resource's uri");
  const route = (await uriRouter(aggregation))(params.uri);
  if (!route || !("server" in route)) return unroutedUri(id, params.uri, route);
  return aggregation.forward(route.server, params);
}

/** `completion/complete`: a prompt argument goes where the prompt's name leads; a template's, to its server. */
export async function forwardCompletion(aggregation: Aggregation): Promise<Response> {
  const { params, id } = aggregation.message;
  const ref = (params.ref ?? {}) as { type?: unknown; name?: unknown; uri?: unknown };
  if (ref.type === "ref/prompt") {
    const route = await routeName(aggregation, "prompt", ref.name);
    if ("refusal" in route) return route.refusal;
    return aggregation.forward(route.server, { ...params, ref: { ...ref, name: route.original } });
  }
  if (ref.type === "ref/resource" && typeof ref.uri === "string") {
    const templateUri = ref.uri;
    const templates = await aggregation.collect("resources/templates/list", (server) =>
      wholeList(aggregation, server, "resources/templates/list"),
    );
    const servers = [...templates].filter(([, list]) => list.some((template) => template.uriTemplate === templateUri));
    const route = servers.length === 0 ? undefined : onlyOne(servers.map(([server]) => server));
    if (!route) return errorAnswer(200, id, INVALID_PARAMS, `no server you may use has the resource template ${templateUri}`);
    // The user's partial input goes to no server that merely shares the template's text with the one they meant.
    if (!("server" in route)) return unroutedUri(id, templateUri, route);
    return aggregation.forward(route.server, params);
  }
  return errorAnswer(200, id, INVALID_PARAMS, 'expected a "ref/prompt" or "ref/resource" reference');
}
