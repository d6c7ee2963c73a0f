import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { describe, expect, it } from "vitest";
import { type FixtureEra, stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";

async function connectOverStdio(era: FixtureEra): Promise<Client> {
  const client = new Client({ name: "fixture-stdio-test", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StdioClientTransport(stdioFixtureCommand(era)));
  return client;
}

const structured = (result: unknown) => (result as { structuredContent?: Record<string, unknown> }).structuredContent;

describe("the fixture over stdio, reached by an SDK v2 client negotiating its era", () => {
  it.each([
    ["dual", "modern"],
    ["legacy", "legacy"],
  ] as const)("--era %s negotiates the %s era and serves calls from one process", async (era, expectedEra) => {
    const client = await connectOverStdio(era);
    try {
      expect(client.getProtocolEra()).toBe(expectedEra);
      const first = structured(await client.callTool({ name: "counter_increment", arguments: {} }));
      const second = structured(await client.callTool({ name: "counter_increment", arguments: {} }));
      expect(second?.value).toBe(Number(first?.value) + 1);
      expect(second?.pid).toBe(first?.pid);
      const identity = structured(await client.callTool({ name: "whoami", arguments: {} }));
      expect(identity).toMatchObject({ transport: "stdio", headers: {} });
    } finally {
      await client.close();
    }
  });
});
