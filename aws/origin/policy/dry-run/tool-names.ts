import { AGGREGATED_NAME_SEPARATOR } from "../../../../contract/aggregated-names.ts";
import { NameTable, plainOriginal } from "../../aggregate/public-names.ts";
import type { ApprovedTools } from "./approved-tools.ts";

/** The upstream's own name of a called tool, or that it is not known. */
export type UpstreamName = { name: string } | { unresolved: true };

/**
 * The policy decides on the upstream's own tool names, and calls are audited with them, through `/mcp/<server>` and the
 * aggregated `/mcp` alike; older rows, and a 2025-era session's calls of a shortened name, hold the public name
 * `<server>__<name>`, which reads back as itself below 64 characters. A 64-character name was shortened with a hash: only the server's approved tool names can say whose
 * it is (the origin builds the same table from the server's list).
 */
export function upstreamToolNames(approved: ApprovedTools): (server: string, called: string) => UpstreamName {
  const tables = new Map<string, NameTable>();
  const tableOf = (server: string) => {
    const table = tables.get(server) ?? new NameTable(server, [...(approved.get(server)?.keys() ?? [])]);
    tables.set(server, table);
    return table;
  };
  return (server, called) => {
    if (!called.startsWith(`${server}${AGGREGATED_NAME_SEPARATOR}`)) return { name: called };
    const original = plainOriginal(called, server) ?? tableOf(server).original(called);
    return original === undefined ? { unresolved: true } : { name: original };
  };
}
