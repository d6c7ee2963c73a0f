import type { Client } from "@modelcontextprotocol/client";

type Definition = Record<string, unknown>;

/** Each list an upstream serves whose items the origin needs by name: its method, its items' key, their name field. */
const LISTS = {
  tools: { method: "tools/list", key: "tools", name: "name", changed: "notifications/tools/list_changed" },
  prompts: { method: "prompts/list", key: "prompts", name: "name", changed: "notifications/prompts/list_changed" },
  resources: { method: "resources/list", key: "resources", name: "uri", changed: "notifications/resources/list_changed" },
  resourceTemplates: {
    method: "resources/templates/list",
    key: "resourceTemplates",
    name: "uriTemplate",
    changed: "notifications/resources/list_changed",
  },
} as const;

type ListName = keyof typeof LISTS;

const METHOD_NOT_FOUND = -32601;

/** How each list is read whole (the SDK follows its pages). */
const LOAD: Record<ListName, (client: Client) => Promise<Record<string, unknown>>> = {
  tools: (client) => client.listTools(),
  prompts: (client) => client.listPrompts(),
  resources: (client) => client.listResources(),
  resourceTemplates: (client) => client.listResourceTemplates(),
};

/**
 * One list of an upstream (its tools, prompts, resources or resource templates), by name: learned from the list
 * results the origin relays, and read whole, every page, when a request needs an item before the whole list was seen
 * (a client may call a tool or get a prompt it knows without listing, or list only the first page). Forgotten when the
 * upstream says the list changed.
 */
export class ListedDefinitions {
  readonly #items = new Map<string, Definition>();
  readonly #list: ListName;
  readonly #client: Client;
  #loaded?: Promise<void>;
  #reloading?: Promise<void>;

  constructor(client: Client, list: ListName) {
    this.#client = client;
    this.#list = list;
  }

  /** The item's definition as last listed; undefined for one the upstream never listed. */
  get(name: string): Definition | undefined {
    return this.#items.get(name);
  }

  /** Every item as last listed. */
  all(): Definition[] {
    return [...this.#items.values()];
  }

  /** Learns from a page of this list's result; `whole` when it is the whole list (a first page without a next one). */
  remember(result: Record<string, unknown>, whole: boolean): void {
    const { key, name } = LISTS[this.#list];
    const items = result[key];
    if (!Array.isArray(items)) return;
    for (const item of items as Definition[]) if (typeof item?.[name] === "string") this.#items.set(item[name] as string, item);
    if (whole) this.#loaded ??= Promise.resolve();
  }

  /**
   * Reads the whole list unless it has been seen whole. A read that fails rejects (and is tried again next time):
   * what the policy and the pins decide on must be known, so the request that needed it is refused, not let through.
   * An upstream that serves no such list (method not found) has none to learn.
   */
  ensureLoaded(): Promise<void> {
    this.#loaded ??= LOAD[this.#list](this.#client).then(
      (result) => this.remember(result, true),
      (error: unknown) => {
        if ((error as { code?: unknown } | undefined)?.code === METHOD_NOT_FOUND) return;
        this.#loaded = undefined;
        throw error; // as it came: a timeout, a closed connection or a needed consent is answered as such
      },
    );
    return this.#loaded;
  }

  /**
   * Reads the whole list anew and replaces what was known (an upstream may add an item without saying so); requests
   * that ask meanwhile share the one read.
   */
  reload(): Promise<void> {
    this.#reloading ??= LOAD[this.#list](this.#client)
      .then(
        (result) => {
          this.#items.clear();
          this.remember(result, true);
        },
        (error: unknown) => {
          if ((error as { code?: unknown } | undefined)?.code !== METHOD_NOT_FOUND) throw error;
        },
      )
      .finally(() => {
        this.#reloading = undefined;
      });
    return this.#reloading;
  }

  forget(): void {
    this.#items.clear();
    this.#loaded = undefined;
  }
}

/** The lists of one upstream connection the origin keeps by name (resources by URI, templates by URI template). */
export type UpstreamLists = Record<ListName, ListedDefinitions>;

export function upstreamLists(client: Client): UpstreamLists {
  return {
    tools: new ListedDefinitions(client, "tools"),
    prompts: new ListedDefinitions(client, "prompts"),
    resources: new ListedDefinitions(client, "resources"),
    resourceTemplates: new ListedDefinitions(client, "resourceTemplates"),
  };
}

/** Learns from a list result the origin relays (for the page at `cursor`), whichever list its method names. */
export function rememberListed(lists: UpstreamLists, method: string, cursor: unknown, result: Record<string, unknown>): void {
  const whole = cursor === undefined && result.nextCursor === undefined;
  for (const name of Object.keys(LISTS) as ListName[]) if (LISTS[name].method === method) lists[name].remember(result, whole);
}

/** Forgets the list an upstream's list-changed notification names. */
export function forgetChanged(lists: UpstreamLists, notification: string): void {
  for (const name of Object.keys(LISTS) as ListName[]) if (LISTS[name].changed === notification) lists[name].forget();
}

/** A tool definition's input schema or annotations: objects, or undefined when it states none. */
export const objectField = (definition: Definition | undefined, field: "inputSchema" | "annotations") => {
  const value = definition?.[field];
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Definition) : undefined;
};
