import type { Client } from "@modelcontextprotocol/client";

/**
 * The upstream's tool input schemas, by tool name, learned from the `tools/list` results the origin relays
 * (and listed once if a call comes first). The SDK checks a call's `Mcp-Param-*` headers against them.
 */
export class ToolSchemas {
  private readonly schemas = new Map<string, Record<string, unknown>>();
  private loaded?: Promise<void>;
  private readonly client: Client;

  constructor(client: Client) {
    this.client = client;
  }

  get(name: string): Record<string, unknown> | undefined {
    return this.schemas.get(name);
  }

  /** Learns from a page of a `tools/list` result. */
  remember(result: { tools?: unknown }): void {
    if (!Array.isArray(result.tools)) return;
    for (const tool of result.tools as { name?: unknown; inputSchema?: unknown }[]) {
      if (typeof tool.name === "string" && typeof tool.inputSchema === "object" && tool.inputSchema !== null)
        this.schemas.set(tool.name, tool.inputSchema as Record<string, unknown>);
    }
    this.loaded ??= Promise.resolve();
  }

  /** Lists the tools once if no list has been seen yet (a client may call a tool it knows without listing). */
  ensureLoaded(): Promise<void> {
    this.loaded ??= this.client
      .listTools()
      .then((result) => this.remember(result))
      .catch(() => {
        this.loaded = undefined;
      });
    return this.loaded;
  }

  /** The upstream's tools changed: what was learned is stale. */
  forget(): void {
    this.schemas.clear();
    this.loaded = undefined;
  }
}
