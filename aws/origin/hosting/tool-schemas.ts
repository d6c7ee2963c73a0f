import type { Client } from "@modelcontextprotocol/client";

interface KnownTool {
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  /** The whole definition, as the upstream listed it (pinned definitions fingerprint it). */
  definition: Record<string, unknown>;
}

/**
 * The upstream's tools, by name, learned from the `tools/list` results the origin relays (and listed once if a
 * call comes first): the SDK checks a call's `Mcp-Param-*` headers against their input schemas, and the policy
 * reads their annotations.
 */
export class ToolSchemas {
  private readonly tools = new Map<string, KnownTool>();
  private loaded?: Promise<void>;
  private readonly client: Client;

  constructor(client: Client) {
    this.client = client;
  }

  get(name: string): Record<string, unknown> | undefined {
    return this.tools.get(name)?.inputSchema;
  }

  /** The tool's definition as last listed; undefined for a tool the upstream never listed. */
  definition(name: string): Record<string, unknown> | undefined {
    return this.tools.get(name)?.definition;
  }

  /** The tool's annotations; undefined for a tool that states none, or that the upstream never listed. */
  annotations(name: string): Record<string, unknown> | undefined {
    return this.tools.get(name)?.annotations;
  }

  /** Learns from a page of a `tools/list` result. */
  remember(result: { tools?: unknown }): void {
    if (!Array.isArray(result.tools)) return;
    for (const tool of result.tools as Record<string, unknown>[]) {
      if (typeof tool?.name !== "string") continue;
      const known = {
        inputSchema: objectOrNone(tool.inputSchema),
        annotations: objectOrNone(tool.annotations),
        definition: tool,
      };
      this.tools.set(tool.name, known);
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
    this.tools.clear();
    this.loaded = undefined;
  }
}

const objectOrNone = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
