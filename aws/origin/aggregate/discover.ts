import type { Aggregation } from "./aggregation.ts";
import { type Params, resultAnswer } from "./messages.ts";

const SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo";
const EDGE_INFO = { name: "mcp-edge", title: "Every MCP server you may use", version: "1" };

/**
 * `server/discover` of the aggregated endpoint: the union of the permitted servers' capabilities, and instructions
 * that name the servers included (and those left out now), followed by each server's own instructions.
 */
export async function mergedDiscover(aggregation: Aggregation): Promise<Response> {
  const params = { _meta: aggregation.message.params._meta };
  const results = await aggregation.collect("server/discover", (server) => aggregation.result(server, "server/discover", params));
  const first = [...results.values()][0];
  return resultAnswer(aggregation.message.id, {
    ...(first?.supportedVersions !== undefined && { supportedVersions: first.supportedVersions }),
    capabilities: unionOf([...results.values()].map((result) => (result.capabilities ?? {}) as Params)),
    instructions: instructionsFor(aggregation.permitted, results),
    ttlMs: 0,
    _meta: { [SERVER_INFO_KEY]: EDGE_INFO },
  });
}

/** Capabilities of several servers as one: each capability present if any has it, each flag true if any sets it. */
export function unionOf(all: readonly Params[]): Params {
  const union: Record<string, Params> = {};
  for (const capabilities of all) {
    for (const [name, value] of Object.entries(capabilities)) {
      const merged = union[name] ?? {};
      union[name] = merged;
      for (const [flag, set] of Object.entries((value ?? {}) as Params)) {
        merged[flag] = typeof set === "boolean" ? merged[flag] === true || set : (merged[flag] ?? set);
      }
    }
  }
  return union;
}

function instructionsFor(permitted: readonly string[], results: Map<string, Params>): string {
  if (permitted.length === 0) return "You may use no MCP server through this endpoint. Ask your administrator for access.";
  const included = permitted.filter((server) => results.has(server));
  const missing = permitted.filter((server) => !results.has(server));
  const lines = [
    `This endpoint combines the MCP servers you may use: ${included.join(", ") || "none right now"}.` +
      (missing.length > 0 ? ` Unavailable right now: ${missing.join(", ")}.` : "") +
      ' Tool and prompt names carry their server\'s name first ("<server>__<name>").',
  ];
  for (const [server, result] of results) {
    if (typeof result.instructions === "string" && result.instructions.trim()) lines.push(`## ${server}\n${result.instructions}`);
  }
  return lines.join("\n\n");
}
