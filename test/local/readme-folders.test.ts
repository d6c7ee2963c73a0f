import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url);
const readme = readFileSync(new URL("README.md", ROOT), "utf8");
const entries = (folder: string) => readdirSync(new URL(folder, ROOT), { withFileTypes: true });
const folders = (folder: string) =>
  entries(folder)
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);
const files = (folder: string) =>
  entries(folder)
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
/** The "Where things are" row of `folder`. */
const row = (folder: string) => readme.split("\n").find((line) => line.startsWith(`| \`${folder}\` |`)) ?? "";

describe("README's Where things are and Test it", () => {
  it("names every test folder, script, edge and origin folder and Durable Object", () => {
    const missing = [
      ...folders("test/").filter((name) => !row("test/").includes(`\`${name}/\``)),
      ...files("scripts/").filter((name) => !row("scripts/").includes(`\`${name}\``)),
      ...folders("aws/origin/").filter((name) => !row("aws/origin/").includes(`\`${name}/\``)),
      ...folders("worker/").filter((name) => !row("worker/").includes(`\`${name}/\``)),
      ...files("durable-objects/")
        .filter((name) => name.endsWith(".ts"))
        .filter((name) => !row("durable-objects/").includes(`\`${name}\``)),
    ];
    expect(missing).toEqual([]);
  });

  it("names every npm script as a command", () => {
    const scripts = Object.keys(JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")).scripts as object);
    expect(scripts.length).toBeGreaterThan(10);
    const named = (script: string) => readme.includes(`\`npm run ${script}\``) || readme.includes(`\`npm ${script}\``);
    expect(scripts.filter((script) => !named(script))).toEqual([]);
  });

  it("names every folder of the node test project", () => {
    const config = readFileSync(new URL("vitest.config.ts", ROOT), "utf8");
    const node = /"test\/\{([a-z,-]+)\}\/\*\*\/\*\.test\.ts"/.exec(config)?.[1]?.split(",") ?? [];
    expect(node.length).toBeGreaterThan(3);
    const bullet = readme.split("\n").find((line) => line.startsWith("- **node** (")) ?? "";
    expect(node.filter((name) => !bullet.includes(`\`test/${name}/\``))).toEqual([]);
  });
});
