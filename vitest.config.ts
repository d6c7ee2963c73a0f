import { defineConfig } from "vitest/config";
import { edgeTestBindings } from "./test/edge/node/bindings.ts";
import { testTls } from "./test/edge/node/test-tls.ts";

// Miniflare adds NODE_EXTRA_CA_CERTS to workerd's trust store when it loads: the edge tests' https certificate is
// made and added first, and the plugin (which loads Miniflare) imported after.
testTls();
const { cloudflareTest } = await import("@cloudflare/vitest-plugin");

// Five projects: edge code inside workerd (Miniflare's real KV and Queues), origin and tooling on Node
// against real PostgreSQL and child processes, end-to-end runs of the whole local system, the consent page in
// headless Chromium, and the MCP conformance suite against its upstream fixture.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: await edgeTestBindings() } }),
        ],
        test: {
          name: "edge",
          include: ["test/edge/**/*.test.ts"],
          globalSetup: [
            "test/edge/node/idp-setup.ts",
            "test/edge/node/cimd-setup.ts",
            "test/edge/node/groups-origin-setup.ts",
            "test/edge/node/queue-graphql-setup.ts",
          ],
        },
      },
      {
        test: {
          name: "node",
          include: ["test/{contract,origin,local,aws,client-config}/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // The consent page in Debian's Chromium (playwright-core, never a downloaded browser) against wrangler dev.
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // The MCP conformance suite against the upstream fixture; one suite run at a time (each is a burst of traffic).
        test: {
          name: "conformance",
          include: ["test/conformance/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
