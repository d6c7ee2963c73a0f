import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// The whole local system with groups from the fake Google Workspace (Workload Identity Federation, domain-wide
// delegation, the Directory): a user removed from a group at the Directory loses what the group gave them within
// the edge's TTL, although their access token lives on.

const TTL_SECONDS = 8;
const DEV = "dev@example.com";

let system: Awaited<ReturnType<typeof startTestSystem>>;
beforeAll(async () => {
  system = await startTestSystem({
    groupsFreshness: { edgeTtlSeconds: TTL_SECONDS, originCacheSeconds: 0 },
    originFile: {
      path: "google groups test",
      content: {
        policy: {
          rules: [
            { description: "engineers only", effect: "allow", who: { groups: ["engineering@example.com"] }, servers: ["*"] },
          ],
        },
      },
    },
  });
});
afterAll(async () => {
  await system?.close();
});

const mcpUrl = () => new URL(`${system.edgeUrl}/mcp/everything`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function connected(): Promise<ClientV2> {
  const provider = new InMemoryOAuthProvider();
  const probe = new ClientV2({ name: "sign-in", version: "1.0.0" });
  await probe.connect(new TransportV2(mcpUrl(), { authProvider: provider })).catch(() => {});
  const callback = await provider.signInHeadlessly();
  await new TransportV2(mcpUrl(), { authProvider: provider }).finishAuth(callback);
  const client = new ClientV2({ name: "e2e-groups", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new TransportV2(mcpUrl(), { authProvider: provider }));
  return client;
}

const echo = (client: ClientV2) => client.callTool({ name: "echo", arguments: { message: "still here?" } });

describe("Google Workspace groups through the local system", () => {
  it("a group removed at the Directory closes the group's servers within the TTL, with the same access token", async () => {
    const client = await connected();
    expect((await echo(client)).content).toEqual([{ type: "text", text: "Echo: still here?" }]);

    system.google.setGroups(DEV, []);
    // Within the TTL the groups the grant holds still count.
    expect((await echo(client)).content).toEqual([{ type: "text", text: "Echo: still here?" }]);

    const deadline = Date.now() + (TTL_SECONDS + 20) * 1000;
    let refusal: unknown;
    while (!refusal && Date.now() < deadline) {
      await sleep(1000);
      refusal = await echo(client).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    expect(String(refusal)).toMatch(/refused by policy/);
    await client.close();
  });

  it("a user added to the group at the Directory gets its servers at sign-in", async () => {
    system.google.setGroups(DEV, ["engineering@example.com"]);
    const client = await connected();
    expect((await echo(client)).content).toEqual([{ type: "text", text: "Echo: still here?" }]);
    await client.close();
  });
});
