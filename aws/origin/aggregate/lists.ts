import { CONSENT_NEEDED_CODE } from "../upstream-auth/consent.ts";
import type { Aggregation } from "./aggregation.ts";
import { LeftOut } from "./fan-out.ts";
import { type Params, resultAnswer } from "./messages.ts";
import { NameTable } from "./public-names.ts";

/** The list methods the aggregated endpoint merges: the result key, and whether items are renamed per server. */
export const LISTS = {
  "tools/list": { key: "tools", renamed: true },
  "prompts/list": { key: "prompts", renamed: true },
  "resources/list": { key: "resources", renamed: false },
  "resources/templates/list": { key: "resourceTemplates", renamed: false },
} as const;
export type ListMethod = keyof typeof LISTS;

/** A server's list is read whole; past this many pages the rest is left out (and the log says so). */
const MAX_PAGES = 50;
const METHOD_NOT_FOUND = -32601;

type Item = Params & { name?: string };

/** Every page of one server's list (the aggregated answer has one page: clients get all they may use at once). */
export async function wholeList(aggregation: Aggregation, server: string, method: ListMethod): Promise<Item[]> {
  const { key } = LISTS[method];
  const items: Item[] = [];
  const asked = new Set<unknown>();
  let cursor: unknown;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params: Params = { _meta: aggregation.message.params._meta, ...(cursor !== undefined && { cursor }) };
    const result = await aggregation.result(server, method, params).catch((error: unknown) => {
      // A server without such a list (tools only, say) has none to give: it is not left out of anything.
      if (page === 0 && error instanceof LeftOut && error.code === METHOD_NOT_FOUND) return { [key]: [] };
      throw error;
    });
    if (Array.isArray(result[key])) items.push(...(result[key] as Item[]));
    asked.add(cursor);
    cursor = result.nextCursor;
    if (cursor === undefined) return items;
    // A cursor already followed would bring the same pages again (a server whose last page says "" or loops).
    if (asked.has(cursor) || cursor === "") {
      console.warn(`aggregate: ${server}'s ${method} gave a cursor it had given before; its list ends there`);
      return items;
    }
  }
  console.warn(`aggregate: ${server}'s ${method} has more than ${MAX_PAGES} pages; the rest is left out`);
  return items;
}

/** A server's tools or prompts under their public names. */
export function renamedItems(server: string, items: readonly Item[]): Item[] {
  const table = new NameTable(
    server,
    items.map((item) => String(item.name)),
  );
  return items.map((item) => ({ ...item, name: table.public(String(item.name)) }));
}

/**
 * The one tool a server lists on the aggregated endpoint while the user has not connected their account there (it
 * needs the user's consent, per `oauth`): calling it gets the consent question (a URL elicitation, or the link in the
 * error), as any call to that server does. Without it a user of `/mcp` alone would have no way to connect.
 */
export const CONNECT_TOOL = "connect_account";

const connectTool = (server: string): Item => ({
  name: CONNECT_TOOL,
  title: `Connect your account at ${server}`,
  description: `Server "${server}" needs you to connect your account there before its tools can be listed or used. Call this tool to get the link to sign in; its tools are listed once you have.`,
  inputSchema: { type: "object", properties: {} },
});

/** The merged list: every permitted server's items (tools and prompts under public names), in configuration order. */
export async function mergedList(aggregation: Aggregation, method: ListMethod): Promise<Response> {
  const { key, renamed } = LISTS[method];
  const lists = await aggregation.collect(method, (server) =>
    wholeList(aggregation, server, method).catch((error: unknown) => {
      if (method === "tools/list" && error instanceof LeftOut && error.code === CONSENT_NEEDED_CODE) return [connectTool(server)];
      throw error;
    }),
  );
  const items = [...lists].flatMap(([server, list]) => (renamed ? renamedItems(server, list) : list));
  return resultAnswer(aggregation.message.id, { [key]: items });
}
