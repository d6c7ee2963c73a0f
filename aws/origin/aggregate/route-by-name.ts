import { INVALID_PARAMS } from "@modelcontextprotocol/server";
import { serverOfPublicName } from "../../../contract/aggregated-names.ts";
import { ANSWER_OUTCOME_HEADER, formatAnswerOutcome } from "../../../contract/answer-outcome.ts";
import { POLICY_DENIED_CODE } from "../../../contract/config/policy.ts";
import type { Aggregation } from "./aggregation.ts";
import { wholeList } from "./lists.ts";
import { errorAnswer } from "./messages.ts";
import { NameTable, plainOriginal } from "./public-names.ts";

/** Where a public name leads: a server and the upstream's own name, or the answer to give instead. */
export type NameRoute = { server: string; original: string } | { refusal: Response };

/**
 * Resolves a public tool or prompt name. Its server is the permitted server whose prefix it carries; the upstream
 * name is the rest when the public name was never shortened, else what the server's own list says it stands for.
 */
export async function routeName(aggregation: Aggregation, kind: "tool" | "prompt", name: unknown): Promise<NameRoute> {
  const { id } = aggregation.message;
  if (typeof name !== "string") return { refusal: errorAnswer(200, id, INVALID_PARAMS, `expected the ${kind}'s name`) };
  const server = serverOfPublicName(name, aggregation.permitted);
  if (!server) return { refusal: unknownName(aggregation, kind, name) };
  const original =
    plainOriginal(name, server) ?? (await tableOf(aggregation, server, kind).catch(() => undefined))?.original(name);
  if (original === undefined) return { refusal: errorAnswer(200, id, INVALID_PARAMS, `unknown ${kind} "${name}"`) };
  return { server, original };
}

/**
 * A name no permitted server carries. A server the policy refuses the user is not there for them (docs/policy.md),
 * so its name is answered exactly as a name of no server, or a 403 naming it would tell them it exists. The refusal
 * still reaches the audit as one: a label the edge reads and never relays records it `denied` under that server.
 */
function unknownName(aggregation: Aggregation, kind: "tool" | "prompt", name: string): Response {
  const answer = errorAnswer(200, aggregation.message.id, INVALID_PARAMS, `unknown ${kind} "${name}"`);
  const refused = serverOfPublicName(name, aggregation.allServers);
  if (refused !== undefined) answer.headers.set(ANSWER_OUTCOME_HEADER, formatAnswerOutcome(POLICY_REFUSAL));
  return answer;
}

/** How the audit records a name of a server the policy refuses: as the refusal it is on `/mcp/<server>`. */
const POLICY_REFUSAL = { outcome: "denied", errorCode: POLICY_DENIED_CODE } as const;

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
