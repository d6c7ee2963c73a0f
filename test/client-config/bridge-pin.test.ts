import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BRIDGE_PACKAGE, BRIDGE_VERSION, buildEntry } from "../../client-config/entry-shapes.ts";

// The bridge entries pin mcp-remote (`npx -y` of a bare name runs whatever npm serves at each start, on a machine
// holding the user's edge tokens); the repository does not install mcp-remote, so the pin is the version the
// compatibility table records as tested, and the docs show the same.

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), "utf8");

/** Versions as numbers, for comparing 0.15.1 with 0.1.49. */
const parts = (version: string) => version.split(".").map(Number);
const newer = (a: string, b: string) => {
  const [x, y] = [parts(a), parts(b)];
  const at = x.findIndex((part, index) => part !== y[index]);
  return at >= 0 && (x[at] ?? 0) > (y[at] ?? 0);
};

describe("the mcp-remote pin", () => {
  it("is written into the bridge entry, with and without a proxy", () => {
    const url = "https://mcp.example.com/mcp";
    expect(buildEntry("mcp-remote", url, undefined)).toEqual({
      command: "npx",
      args: ["-y", `mcp-remote@${BRIDGE_VERSION}`, url],
    });
    const proxied = buildEntry("mcp-remote", url, { httpsProxy: "http://proxy.example:3128" });
    expect((proxied.args as string[])[1]).toBe(`${BRIDGE_PACKAGE}@${BRIDGE_VERSION}`);
  });

  it("is the newest mcp-remote version docs/clients/compatibility.md records as tested", () => {
    const tested = [...read("docs/clients/compatibility.md").matchAll(/mcp-remote (\d+\.\d+\.\d+)/g)].map(([, v]) => String(v));
    expect(tested.length).toBeGreaterThan(0);
    const newest = tested.reduce((best, version) => (newer(version, best) ? version : best));
    expect(BRIDGE_VERSION).toBe(newest);
  });

  it("is what the docs show: no example runs a bare mcp-remote", () => {
    for (const doc of [
      "docs/clients/mcp-remote.md",
      "docs/clients/jetbrains.md",
      "docs/clients/claude.md",
      "client-config/README.md",
    ]) {
      const text = read(doc);
      expect(text, doc).not.toMatch(/"mcp-remote"|npx -y mcp-remote[^@]/);
      expect(text, doc).toMatch(new RegExp(`mcp-remote@(${BRIDGE_VERSION.replaceAll(".", "\\.")}|<version>)`));
    }
  });
});
