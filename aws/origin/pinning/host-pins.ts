import { ProtocolError, UriTemplate } from "@modelcontextprotocol/server";
import type { ListedDefinitions } from "../hosting/listed-definitions.ts";
import type { DefinitionPins } from "./definition-pins.ts";
import type { DefinitionKind } from "./fingerprint.ts";

/** JSON-RPC error of a request refused because a definition is not (or no longer) approved. */
export const DEFINITION_WITHHELD_CODE = -32004;

/** The list methods whose items are pinned, and the key of their items in a result. */
const PINNED_LISTS: Record<string, { kind: DefinitionKind; key: string }> = {
  "tools/list": { kind: "tool", key: "tools" },
  "prompts/list": { kind: "prompt", key: "prompts" },
  "resources/list": { kind: "resource", key: "resources" },
  "resources/templates/list": { kind: "resource_template", key: "resourceTemplates" },
};

type Definition = Record<string, unknown>;

/** The pins as one user's connection to one server applies them. */
export class HostPins {
  readonly #pins: DefinitionPins | undefined;
  readonly #server: string;
  /** Why the whole server is withheld: its discovery result (instructions, capabilities) is not approved. */
  #withheld?: string;

  constructor(pins: DefinitionPins | undefined, server: string) {
    this.#pins = pins?.pins(server) ? pins : undefined;
    this.#server = server;
  }

  /** Pins the upstream's discovery result (its instructions reach the model too); withholds the server if not approved. */
  async checkDiscovery(discovery: Definition): Promise<void> {
    this.#withheld = await this.#pins?.allows(this.#server, "discovery", discovery);
  }

  get withheld(): string | undefined {
    return this.#withheld;
  }

  /**
   * The upstream's name as clients may see it: its own (`serverInfo`: a name, a title, a website) once its description
   * is approved; while it is withheld, only the configured server's name, since the title reaches the model too.
   */
  serverInfo(upstream: { name: string; version: string } | undefined): { name: string; version: string } {
    if (this.#withheld) return { name: this.#server, version: "withheld" };
    return upstream ?? { name: "upstream", version: "unknown" };
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
    return { ...result, [list.key]: shown };
  }

  /** Refuses a call to a tool whose definition (as last listed) is not approved. */
  async requireTool(definition: Definition | undefined): Promise<void> {
    this.requireServer();
    await this.#require("tool", definition);
  }

  /**
   * Refuses a prompt whose definition is not approved. A prompt is fetched by name, and a client may know the name
   * without listing: the upstream's prompts are listed first if this connection has not seen them.
   */
  async requirePrompt(name: string, prompts: ListedDefinitions): Promise<void> {
    this.requireServer();
    if (!this.#pins) return;
    await prompts.ensureLoaded();
    await this.#require("prompt", prompts.get(name));
  }

  /**
   * Refuses reading a URI listed as a resource whose definition is not approved, or one that a resource template whose
   * definition is not approved covers. As with prompts, the lists are read first if this connection has not seen them.
   * Without `resources`, only the templates are checked: a completion names a template, never a listed resource.
   */
  async requireResource(uri: string, templates: ListedDefinitions, resources?: ListedDefinitions): Promise<void> {
    this.requireServer();
    if (!this.#pins) return;
    const listed = this.#pins.pins(this.#server, "resource") ? resources : undefined;
    await Promise.all([listed?.ensureLoaded(), templates.ensureLoaded()]);
    for (const form of readableForms(uri)) {
      await this.#require("resource", listed?.get(form));
      for (const template of templates.all()) if (covers(template, form)) await this.#require("resource_template", template);
    }
  }

  /** A definition the upstream never listed is not pinned here: the upstream itself answers that it does not exist. */
  async #require(kind: DefinitionKind, definition: Definition | undefined): Promise<void> {
    if (!this.#pins || !definition) return;
    const reason = await this.#pins.allows(this.#server, kind, definition);
    if (reason) throw new DefinitionWithheld(reason);
  }
}

/**
 * The URI as sent, and as an upstream may read it: the SDK looks a resource up by `new URL(uri).toString()`, which
 * lowercases the scheme (and a special scheme's host) and percent-encodes, so `NOTE://one` reads `note://one`.
 */
function readableForms(uri: string): string[] {
  const normalized = URL.canParse(uri) ? new URL(uri).toString() : uri;
  return normalized === uri ? [uri] : [uri, normalized];
}

/** Whether a resource template's URI template matches this URI. */
function covers(template: Definition, uri: string): boolean {
  if (typeof template.uriTemplate !== "string") return false;
  try {
    return new UriTemplate(template.uriTemplate).match(uri) !== null;
  } catch {
    return true; // which URIs it covers is unknown: it is checked like one that covers this URI
  }
}

export class DefinitionWithheld extends ProtocolError {
  constructor(reason: string) {
    super(DEFINITION_WITHHELD_CODE, `withheld: ${reason}`);
    this.name = "DefinitionWithheld";
  }
}
