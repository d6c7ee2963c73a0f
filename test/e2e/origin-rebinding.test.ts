import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stdioFixtureCommand } from "../fixtures/conformance-upstream/launch.ts";
import { startTestSystem } from "./local-system.ts";
import { InMemoryOAuthProvider } from "./oauth-client.ts";

// Once the edge knows a user's origin instance, it binds their assertions to it (the instance then refuses a replay
// from memory). When the balancer moves the user (their instance left and the balancer knows it), the instance the
// request reaches refuses an assertion bound to the other one, 421, and names itself: the edge sends the request
// once more, bound to it, and the client sees no error at all.

/** Longer than the balancer's health-check interval (local/balancer.ts), so a stopped instance is known down. */
const BALANCER_NOTICES_MS = 2500;

let system: Awaited<ReturnType<typeof startTestSystem>>;
const provider = new InMemoryOAuthProvider();
const transport = () => new StreamableHTTPClientTransport(new URL(`${system.edgeUrl}/mcp/counter`), { authProvider: provider });

beforeAll(async () => {
  system = await startTestSystem({
    originInstances: 2,
    originFile: {
      path: "two origins",
      content: { servers: { counter: { transport: "stdio", ...stdioFixtureCommand("dual"), env: {} } } },
    },
  });
  const client = new Client({ name: "sign-in", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await expect(client.connect(transport())).rejects.toBeInstanceOf(UnauthorizedError);
  await transport().finishAuth(await provider.signInHeadlessly());
  // The sign-in started the user's child on one instance (warm start) and taught the edge that instance: let it
  // finish, so that the calls below all reach it and it is the one instance holding the user.
  for (let tries = 0; tries < 200 && !system.origins.some((origin) => origin.upstreams() > 0); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 120_000);
afterAll(async () => {
  await system?.close();
});

const count = async (client: Client) =>
  (await client.callTool({ name: "counter_increment", arguments: {} })).structuredContent as { value: number };

describe("a user moved to another origin instance by the balancer", () => {
  it("loses no call: the assertion bound to the old instance is refused by the new one and sent again", async () => {
    const client = new Client({ name: "e2e-rebinding", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(transport());
    expect((await count(client)).value).toBe(1);
    expect((await count(client)).value).toBe(2); // bound to the holder by now
    const holder = system.origins.find((origin) => origin.upstreams() > 0);
    const other = system.origins.find((origin) => origin !== holder);
    await holder?.close();
    await new Promise((resolve) => setTimeout(resolve, BALANCER_NOTICES_MS));
    // No error: the first call reaches the other instance, is refused there (421) and sent again, bound to it.
    expect((await count(client)).value).toBe(1);
    expect(other?.upstreams()).toBe(1);
    expect((await count(client)).value).toBe(2);
    await client.close();
  }, 60_000);
});
