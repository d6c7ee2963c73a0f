import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FixtureEra, launchHttpFixture, type RunningFixture } from "../fixtures/conformance-upstream/launch.ts";

const IDENTITY_HEADERS = {
  authorization: "Bearer upstream-token-for-alice",
  "x-forwarded-user": "alice@example.com",
  "x-forwarded-groups": "engineering",
};

const structured = (result: unknown) => (result as { structuredContent?: Record<string, unknown> }).structuredContent;

describe.each([
  ["dual", "modern"],
  ["legacy", "legacy"],
] as const)("the fixture over HTTP, --era %s, reached by a %s client", (era: FixtureEra, expectedEra) => {
  let fixture: RunningFixture | undefined;
  let client: Client;
  beforeAll(async () => {
    fixture = await launchHttpFixture(era);
    client = new Client({ name: "fixture-probe-test", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    const transport = new StreamableHTTPClientTransport(new URL(fixture.url), { requestInit: { headers: IDENTITY_HEADERS } });
    await client.connect(transport);
  });
  afterAll(async () => {
    await client?.close();
    await fixture?.stop();
  });

  it("negotiates the expected era", () => {
    expect(client.getProtocolEra()).toBe(expectedEra);
  });

  it("whoami returns the Authorization and x-forwarded-* headers it received, and no others", async () => {
    const identity = structured(await client.callTool({ name: "whoami", arguments: {} }));
    expect(identity).toEqual({ transport: "http", headers: IDENTITY_HEADERS });
  });

  it("counter_increment counts per process across calls", async () => {
    const values: number[] = [];
    for (let call = 0; call < 3; call += 1) {
      values.push(Number(structured(await client.callTool({ name: "counter_increment", arguments: {} }))?.value));
    }
    expect(values[1]).toBe(Number(values[0]) + 1);
    expect(values[2]).toBe(Number(values[0]) + 2);
  });
});
