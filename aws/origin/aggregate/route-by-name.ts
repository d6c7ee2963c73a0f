import { serverOfPublicName } from "../../../contract/aggregated-names.ts";
import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import type { Aggregation } from "./aggregation.ts";
import { wholeList } from "./lists.ts";
import { errorAnswer } from "./messages.ts";
import { NameTable, plainOriginal } from "./public-names.ts";

const INVALID_PARAMS = -32602;

/** Where a public name leads: a server and the upstream's own name, or the answer to give instead. */
export type NameRoute = { server: string; original: string } | { refusal: Response };

/**
 * Resolves a public tool or prompt name. Its server is the configured server whose prefix it carries; the upstream
 * name is the rest when the public name was never shortened, else what the server's own list says it stands for.
 */
export async function routeName(aggregation: Aggregation, kind: "tool" | "prompt", name: unknown): Promise<NameRoute> {
  const { id } = aggregation.message;
  if (typeof name !== "string") return { refusal: errorAnswer(200, id, INVALID_PARAMS, `expected the ${kind}'s name`) };
  const server = serverOfPublicName(name, aggregation.allServers);
  if (!server) return { refusal: errorAnswer(200, id, INVALID_PARAMS, `unknown ${kind} "${name}"`) };
  if (!aggregation.permitted.includes(server)) {
    const reason = `refused by policy: no policy rule allows you to use server "${server}"`;
    return { refusal: errorAnswer(403, id, POLICY_DENIED_CODE, reason) };
  }
  const original =
    plainOriginal(name, server) ?? (await tableOf(aggregation, server, kind).catch(() => undefined))?.original(name);
  if (original === undefined) return { refusal: errorAnswer(200, id, INVALID_PARAMS, `unknown ${kind} "${name}"`) };
  return { server, original };
}

async function tableOf(aggregation: Aggregation, server: string, kind: "tool" | "prompt"): Promise<NameTable> {
  const items = await wholeList(aggregation, server, kind === "tool" ? "tools/list" : "prompts/list");
  return new NameTable(
    server,
    items.map((item) => String(item.name)),
  );
}

/** `tools/call` and `prompts/get`: to the server the name leads to, under the upstream's own name. */
export async function forwardByName(aggregation: Aggregation, kind: "tool" | "prompt"): Promise<Response> {
  const { params } = aggregation.message;
  const route = await routeName(aggregation, kind, params.name);
  if ("refusal" in route) return route.refusal;
  return aggregation.forward(route.server, { ...params, name: route.original });
}
