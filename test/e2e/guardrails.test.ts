import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// Guardrails through the real proxy, with the default configuration: an AWS-style key an upstream returns never
// reaches a client of either era; a configured deny pattern refuses a call before the upstream.
const AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"; // AWS's documentation example
let system: Awaited<ReturnType<typeof startTestSystem>>;
let provider: InMemoryOAuthProvider;
beforeAll(async () => {
  system = await startTestSystem({
    originFile: {
      path: "guardrails test",
      content: {
        servers: {
          keys: catalogServer({ name: "keys", tools: [{ name: "echo" }] }),
          shell: {
            ...catalogServer({ name: "shell", tools: [{ name: "run" }] }),
            guardrails: [{ hook: "deny-patterns", patterns: ["rm\\s+-rf"] }],
          },
        },
      },
    },
  });
  provider = new InMemoryOAuthProvider();
  const url = new URL(`${system.edgeUrl}/mcp`);
  await new ClientV2({ name: "sign-in", version: "1" }).connect(new TransportV2(url, { authProvider: provider })).catch(() => {});
  await new TransportV2(url, { authProvider: provider }).finishAuth(await provider.signInHeadlessly());
});
afterAll(async () => {
  await system?.close();
});

describe("guardrails through the proxy", () => {
  it("redacts an AWS key in a tool's result for clients of both eras", async () => {
    const modern = new ClientV2({ name: "guard-v2", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await modern.connect(new TransportV2(new URL(`${system.edgeUrl}/mcp/keys`), { authProvider: provider }));
    const legacy = new ClientV1({ name: "guard-v1", version: "1" });
    await legacy.connect(new TransportV1(new URL(`${system.edgeUrl}/mcp/keys`), { authProvider: provider as never }));
    for (const client of [modern, legacy] as const) {
      const result = await (client as ClientV2).callTool({ name: "echo", arguments: { text: `key ${AWS_KEY_ID}` } });
      expect(JSON.stringify(result.content)).toContain("[REDACTED AWS access key id]");
      expect(JSON.stringify(result.content)).not.toContain(AWS_KEY_ID);
    }
    await modern.close();
    await legacy.close();
  });

  it("refuses a call whose arguments match a deny pattern, on the aggregated endpoint too", async () => {
    const client = new ClientV2({ name: "guard-agg", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new TransportV2(new URL(`${system.edgeUrl}/mcp`), { authProvider: provider }));
    await expect(client.callTool({ name: "shell__run", arguments: { text: "rm -rf /" } })).rejects.toThrow(
      /refused by guardrail deny-patterns/,
    );
    const allowed = await client.callTool({ name: "shell__run", arguments: { text: "ls" } });
    expect(allowed.content).toEqual([{ type: "text", text: 'run on shell: {"text":"ls"}' }]);
    await client.close();
  });
});
