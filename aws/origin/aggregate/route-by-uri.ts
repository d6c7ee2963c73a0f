import { UriTemplate } from "@modelcontextprotocol/server";
import type { Aggregation } from "./aggregation.ts";
import { wholeList } from "./lists.ts";
import { errorAnswer } from "./messages.ts";
import { routeName } from "./route-by-name.ts";

const INVALID_PARAMS = -32602;
/** The MCP error for a resource no server has (the specification's "resource not found"). */
const RESOURCE_NOT_FOUND = -32002;

/**
 * The server that serves a resource URI: the one whose `resources/list` has it, else the first (in configuration
 * order) with a template that matches it. URIs are passed through unchanged, so a link a tool returns stays valid.
 */
export async function serverOfUri(aggregation: Aggregation, uri: string): Promise<string | undefined> {
  const [listed, templates] = await Promise.all([
    aggregation.collect("resources/list", (server) => wholeList(aggregation, server, "resources/list")),
    aggregation.collect("resources/templates/list", (server) => wholeList(aggregation, server, "resources/templates/list")),
  ]);
  for (const [server, resources] of listed) if (resources.some((resource) => resource.uri === uri)) return server;
  for (const [server, list] of templates) {
    if (list.some((template) => matches(template.uriTemplate, uri))) return server;
  }
  return undefined;
}

function matches(template: unknown, uri: string): boolean {
  if (typeof template !== "string") return false;
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

/** `resources/read`: to the server that serves the URI. */
export async function forwardByUri(aggregation: Aggregation): Promise<Response> {
  const { params, id } = aggregation.message;
  if (typeof params.uri !== "string") return errorAnswer(200, id, INVALID_PARAMS, "expected the resource's uri");
  const server = await serverOfUri(aggregation, params.uri);
  if (!server) return errorAnswer(200, id, RESOURCE_NOT_FOUND, `no server you may use has the resource ${params.uri}`);
  return aggregation.forward(server, params);
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
    const server = [...templates].find(([, list]) => list.some((template) => template.uriTemplate === templateUri))?.[0];
    if (!server) return errorAnswer(200, id, INVALID_PARAMS, `no server you may use has the resource template ${templateUri}`);
    return aggregation.forward(server, params);
  }
  return errorAnswer(200, id, INVALID_PARAMS, 'expected a "ref/prompt" or "ref/resource" reference');
}
