import { describe, expect, inject, it } from "vitest";
import { newRecord } from "../../durable-objects/session/new-record.ts";
import { DeclarationRefused, DescriptionTooLarge, discoverUpstream } from "../../worker/mcp/bridge/discover.ts";
import { originLinkOf } from "../../worker/mcp/bridge/origin-exchange.ts";
import { MAX_KEPT_DISCOVER_CHARS, type SessionIdentity } from "../../worker/mcp/bridge/session-record.ts";
import { testEnv } from "./edge-env.ts";

// What a 2025-era session keeps of the upstream's description, asked of a stand-in origin (test/edge/node/).

const client = { capabilities: {}, info: { name: "test-client", version: "1" } };

/** A stand-in origin of its own that answers `server/discover` with `result` (or `error`), and the caller to ask it as. */
async function originAnswering(result: Record<string, unknown>, error?: { code: number; message: string }) {
  const origin = `${inject("groupsOriginUrl")}/d-${crypto.randomUUID().slice(0, 8)}`;
  const answer = error ? { jsonrpc: "2.0", id: "discover", error } : { jsonrpc: "2.0", id: "discover", result };
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

describe("a client's initialize whose declaration the origin refuses (s23 hunt fuzz F1)", () => {
  it("is answered 400 with the origin's -32602, as the client's error, not as the server unavailable", async () => {
    const refusal = { code: -32602, message: "Invalid params: clientInfo: expected object, received array" };
    const { link, caller } = await originAnswering({}, refusal);
    await expect(discoverUpstream(link, caller, client)).rejects.toBeInstanceOf(DeclarationRefused);
    const params = { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: [] };
    const answer = (await newRecord(link, caller, "session-1", {
      id: 1,
      params,
    })) as Response;
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ id: 1, error: { code: -32602, message: `initialize: ${refusal.message}` } });
  });

  it("still reports another error of the origin as the server unavailable", async () => {
    const { link, caller } = await originAnswering({}, { code: -32603, message: "internal" });
    const params = { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "c", version: "1" } };
    const answer = (await newRecord(link, caller, "session-2", {
      id: 2,
      params,
    })) as Response;
    expect(answer.status).toBe(502);
  });
});
