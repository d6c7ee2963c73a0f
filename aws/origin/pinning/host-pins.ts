import { ProtocolError } from "@modelcontextprotocol/server";
import type { DefinitionPins } from "./definition-pins.ts";
import type { DefinitionKind } from "./fingerprint.ts";

/** JSON-RPC error of a request refused because a definition is not (or no longer) approved. */
export const DEFINITION_WITHHELD_CODE = -32004;

/** The list methods whose items are pinned, and the key of their items in a result. */
const PINNED_LISTS: Record<string, { kind: DefinitionKind; key: string }> = {
  "tools/list": { kind: "tool", key: "tools" },
  "prompts/list": { kind: "prompt", key: "prompts" },
  "resources/templates/list": { kind: "resource_template", key: "resourceTemplates" },
};

type Definition = Record<string, unknown>;

/** The pins as one user's connection to one server applies them. */
export class HostPins {
  readonly #pins: DefinitionPins | undefined;
  readonly #server: string;
  /** Why the whole server is withheld: its discovery result (instructions, capabilities) is not approved. */
  #withheld?: string;
  /** Prompts this connection last listed and withheld (a prompt is fetched by name, without its definition). */
  readonly #withheldPrompts = new Set<string>();

  constructor(pins: DefinitionPins | undefined, server: string) {
    this.#pins = pins;
    this.#server = server;
  }

  /** Pins the upstream's discovery result (its instructions reach the model too); withholds the server if not approved. */
  async checkDiscovery(discovery: Definition): Promise<void> {
    this.#withheld = await this.#pins?.allows(this.#server, "discovery", discovery);
  }

  get withheld(): string | undefined {
    return this.#withheld;
  }

  /** Refuses any request while the server is withheld. */
  requireServer(): void {
    if (this.#withheld) throw new DefinitionWithheld(this.#withheld);
  }

  /** A list result with only approved items (all of them empty while the server is withheld). */
  async visible(method: string, result: Definition): Promise<Definition> {
    const list = PINNED_LISTS[method];
    if (!list || !this.#pins || !Array.isArray(result[list.key])) return result;
    const items = result[list.key] as Definition[];
    const shown = this.#withheld ? [] : await this.#pins.visible(this.#server, list.kind, items);
    if (list.kind === "prompt") {
      for (const item of items) {
        if (shown.includes(item)) this.#withheldPrompts.delete(String(item.name));
        else this.#withheldPrompts.add(String(item.name));
      }
    }
    return { ...result, [list.key]: shown };
  }

  /** Refuses a call to a tool whose definition (as last listed) is not approved. */
  async requireTool(definition: Definition | undefined): Promise<void> {
    this.requireServer();
    // A tool the upstream never listed is not pinned here: the upstream itself answers that it does not exist.
    if (!this.#pins || !definition) return;
    const reason = await this.#pins.allows(this.#server, "tool", definition);
    if (reason) throw new DefinitionWithheld(reason);
  }

  /** Refuses a prompt this connection withheld from its list. */
  requirePrompt(name: string): void {
    this.requireServer();
    if (this.#withheldPrompts.has(name)) {
      throw new DefinitionWithheld(
        `the prompt "${name}" of server "${this.#server}" is withheld until an administrator approves it`,
      );
    }
  }
}

export class DefinitionWithheld extends ProtocolError {
  constructor(reason: string) {
    super(DEFINITION_WITHHELD_CODE, `withheld: ${reason}`);
    this.name = "DefinitionWithheld";
  }
}
