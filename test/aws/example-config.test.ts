import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const example = JSON.parse(readFileSync(`${ROOT}aws/cdk/deploy.config.example.json`, "utf8")) as {
  origin: { servers: Record<string, { transport: string; command?: string; args?: string[] }> };
};
const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, "utf8")) as {
  packages: Record<string, { version?: string }>;
};

/** `npx [-y] <package>[@version] …`: the package npx runs (the first argument that is not an option). */
function npxPackage(args: string[]): string | undefined {
  return args.find((arg) => !arg.startsWith("-"));
}

/** `@scope/name@1.2.3` → name and version; no version when the spec names none. */
function splitSpec(spec: string): { name: string; version?: string } {
  const at = spec.indexOf("@", 1);
  return at < 0 ? { name: spec } : { name: spec.slice(0, at), version: spec.slice(at + 1) };
}

// The example is what deploy.md step 2 says to copy: it must not fetch whatever npm serves at each child's start.
describe("the example deployment's stdio servers (docs/deploy.md, origin.servers)", () => {
  it("runs each npx package at an exact version, the one the repository's lockfile tests", () => {
    const viaNpx = Object.entries(example.origin.servers).filter(([, server]) => server.command === "npx");
    expect(viaNpx.length).toBeGreaterThan(0);
    for (const [name, server] of viaNpx) {
      const spec = splitSpec(npxPackage(server.args ?? []) ?? "");
      expect(spec.version, `${name}: ${spec.name} without a version`).toMatch(/^\d+\.\d+\.\d+$/);
      expect(spec.version, name).toBe(lock.packages[`node_modules/${spec.name}`]?.version);
    }
  });
});
