import type { ClientRecord } from "./clients.ts";
import { buildEntry } from "./entry-shapes.ts";
import type { KeyedEdit, Mode } from "./jsonc-edit.ts";
import { type Places, resolve } from "./locations.ts";
import { type ProxySettings, proxyVariables } from "./proxy.ts";

export interface Request {
  readonly mode: Mode;
  /** The MCP URL; only a write needs it. */
  readonly url: string | undefined;
  readonly name: string;
  readonly proxy: ProxySettings | undefined;
  readonly places: Places;
}

/** One file to change for a client, and the change. */
export interface Target {
  readonly file: string;
  readonly edit: KeyedEdit;
  /** Whether this is the server entry (rather than settings written for it). */
  readonly isEntry: boolean;
}

export function targetsFor(client: ClientRecord, request: Request): Target[] {
  const entry =
    request.mode === "write" && request.url !== undefined ? buildEntry(client.shape, request.url, request.proxy) : undefined;
  const targets: Target[] = [
    {
      file: resolve(request.places, client.configFile),
      edit: { parent: client.serversPath, values: { [request.name]: entry }, owned: true },
      isEntry: true,
    },
  ];
  if (client.proxyVariables && request.proxy) {
    targets.push({
      file: resolve(request.places, client.proxyVariables.file),
      edit: { parent: client.proxyVariables.path, values: proxyVariables(request.proxy), owned: false },
      isEntry: false,
    });
  }
  return targets;
}
