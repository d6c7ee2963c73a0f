import { describe, expect, inject, it } from "vitest";
import { DescriptionTooLarge, discoverUpstream } from "../../worker/mcp/bridge/discover.ts";
import { originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { MAX_KEPT_DISCOVER_CHARS, type SessionIdentity } from "../../worker/mcp/bridge/session-record.ts";
import { testEnv } from "./edge-env.ts";

// What a 2025-era session keeps of the upstream's description, asked of a stand-in origin (test/edge/node/).

const client = { capabilities: {}, info: { name: "test-client", version: "1" } };

/** A stand-in origin of its own that answers `server/discover` with `result`, and the caller to ask it as. */
async function originAnswering(result: Record<string, unknown>) {
  const origin = `${inject("groupsOriginUrl")}/d-${crypto.randomUUID().slice(0, 8)}`;
  const answer = { jsonrpc: "2.0", id: "discover", result };
  await fetch(`${origin}/_control/answer`, { method: "POST", body: JSON.stringify(answer) });
  const caller: SessionIdentity = {
    sub: "alice",
    groups: [],
    clientId: "client-1",
    server: `s-${crypto.randomUUID().slice(0, 8)}`,
  };
  return { link: originLinkOf(testEnv({ ORIGIN_URL: origin })), caller };
}

const description = (instructions: string) => ({
  capabilities: { tools: {} },
  instructions,
  _meta: { "io.modelcontextprotocol/serverInfo": { name: "big", version: "1" } },
});

describe("an upstream's description kept by a session", () => {
  it("is taken as the origin gave it", async () => {
    const { link, caller } = await originAnswering(description("Use the tools."));
    const discovered = await discoverUpstream(link, caller, client);
    expect(discovered).toMatchObject({ capabilities: { tools: {} }, instructions: "Use the tools." });
  });

  it("is refused by name past what a session keeps (its record is one storable value)", async () => {
    const { link, caller } = await originAnswering(description("i".repeat(MAX_KEPT_DISCOVER_CHARS)));
    const refused = discoverUpstream(link, caller, client);
    await expect(refused).rejects.toBeInstanceOf(DescriptionTooLarge);
    await expect(refused).rejects.toThrow(`server "${caller.server}" describes itself`);
  });
});
