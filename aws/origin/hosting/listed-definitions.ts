import type { Client } from "@modelcontextprotocol/client";
import { ProtocolError } from "@modelcontextprotocol/server";
import { z } from "zod";
import { UPSTREAM_UNAVAILABLE } from "./upstream-errors.ts";

type Definition = Record<string, unknown>;

/** Each list an upstream serves whose items the origin needs by name: its method, its items' key, their name field. */
const LISTS = {
  tools: { method: "tools/list", key: "tools", name: "name", changed: "notifications/tools/list_changed", capability: "tools" },
  prompts: {
    method: "prompts/list",
    key: "prompts",
    name: "name",
    changed: "notifications/prompts/list_changed",
    capability: "prompts",
  },
  resources: {
    method: "resources/list",
    key: "resources",
    name: "uri",
    changed: "notifications/resources/list_changed",
    capability: "resources",
  },
  resourceTemplates: {
    method: "resources/templates/list",
    key: "resourceTemplates",
    name: "uriTemplate",
    changed: "notifications/resources/list_changed",
    capability: "resources",
  },
} as const;

type ListName = keyof typeof LISTS;

const METHOD_NOT_FOUND = -32601;

/**
 * What the origin reads of one whole list, whose pages and their number the upstream chooses: more items, more bytes
 * of them (as JSON) or more pages than this and the read fails, as it does past one deadline for all its pages.
 */
export const LIST_BOUNDS = { items: 10_000, bytes: 16 * 1024 * 1024, pages: 100 };

/** How long a read that failed for its size or its deadline is remembered: each request would otherwise read again. */
export const FAILED_READ_MEMORY_MS = 60_000;

/** The deadline of a whole read when the connection names none. */
const DEFAULT_READ_DEADLINE_MS = 60_000;

const AnyResult = z.looseObject({});

/** A whole read that broke the bounds or its deadline: remembered for a while, and told to the caller as such. */
class ListReadFailed extends ProtocolError {
  constructor(message: string) {
    super(UPSTREAM_UNAVAILABLE, message);
  }
}

/**
 * Reads a whole list, page after page, within LIST_BOUNDS and one deadline for all its pages (the SDK's own walk holds
 * up to 64 pages of any size, each under its own timeout). A page repeating the cursor it was asked for ends the list.
 */
async function readWhole(client: Client, list: ListName, deadlineMs: number): Promise<Record<string, unknown>> {
  const { method, key, capability } = LISTS[list];
  if (!client.getServerCapabilities()?.[capability]) return { [key]: [] };
  const signal = AbortSignal.timeout(deadlineMs);
  const items: unknown[] = [];
  let bytes = 0;
  let cursor: string | undefined;
  for (let page = 1; ; page++) {
    const params = cursor === undefined ? {} : { cursor };
    const result = await client
      .request({ method, params }, AnyResult, { signal, timeout: deadlineMs })
      .catch((error: unknown) => {
        throw signal.aborted
          ? new ListReadFailed(`the upstream server did not list its ${key} within ${Math.round(deadlineMs / 1000)} s`)
          : error;
      });
    const pageItems = Array.isArray(result[key]) ? (result[key] as unknown[]) : [];
    bytes += Buffer.byteLength(JSON.stringify(pageItems));
    if (items.length + pageItems.length > LIST_BOUNDS.items || bytes > LIST_BOUNDS.bytes)
      throw new ListReadFailed(
        `the upstream server lists more ${key} than the origin reads (${LIST_BOUNDS.items} items, ${LIST_BOUNDS.bytes / 1024 / 1024} MiB)`,
      );
    items.push(...pageItems);
    const next = result.nextCursor;
    if (typeof next !== "string" || next === cursor) return { [key]: items };
    if (page >= LIST_BOUNDS.pages)
      throw new ListReadFailed(`the upstream server lists its ${key} on more pages than the origin reads (${LIST_BOUNDS.pages})`);
    cursor = next;
  }
}

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
  readonly #deadlineMs: number;
  #loaded?: Promise<void>;
  #reloading?: Promise<void>;
  /** A read that failed for its size or deadline, refused again until then without asking the upstream. */
  #failed?: { error: ListReadFailed; until: number };

  constructor(client: Client, list: ListName, deadlineMs = DEFAULT_READ_DEADLINE_MS) {
    this.#client = client;
    this.#list = list;
    this.#deadlineMs = deadlineMs;
  }

  /** The whole list, or the failure of the last read when it is still remembered. */
  #read(): Promise<Record<string, unknown>> {
    if (this.#failed && Date.now() < this.#failed.until) return Promise.reject(this.#failed.error);
    return readWhole(this.#client, this.#list, this.#deadlineMs).catch((error: unknown) => {
      if (error instanceof ListReadFailed) this.#failed = { error, until: Date.now() + FAILED_READ_MEMORY_MS };
      throw error;
    });
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
   * Reads the whole list unless it has been seen whole. A read that fails rejects (and is tried again next time, or,
   * when it failed for its size or deadline, once FAILED_READ_MEMORY_MS passed or the upstream says the list changed):
   * what the policy and the pins decide on must be known, so the request that needed it is refused, not let through.
   * An upstream that serves no such list (method not found) has none to learn.
   */
  ensureLoaded(): Promise<void> {
    this.#loaded ??= this.#read().then(
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
    this.#reloading ??= this.#read()
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
    this.#failed = undefined;
  }
}

/** The lists of one upstream connection the origin keeps by name (resources by URI, templates by URI template). */
export type UpstreamLists = Record<ListName, ListedDefinitions>;

export function upstreamLists(client: Client, deadlineMs?: number): UpstreamLists {
  return {
    tools: new ListedDefinitions(client, "tools", deadlineMs),
    prompts: new ListedDefinitions(client, "prompts", deadlineMs),
    resources: new ListedDefinitions(client, "resources", deadlineMs),
    resourceTemplates: new ListedDefinitions(client, "resourceTemplates", deadlineMs),
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
