import { describe, expect, it } from "vitest";
import { banner } from "../../local/banner.ts";

describe("npm start's banner", () => {
  it("steers to the aggregated /mcp first, as the docs and client-config do, and lists each server's own URL", () => {
    const printed = banner("http://127.0.0.1:8787", ["everything", "tickets"], "dev@example.com");
    const lines = printed.split("\n").map((line) => line.trim());
    const mcp = "http://127.0.0.1:8787/mcp";
    expect(lines.find((line) => line.startsWith("MCP URL"))).toBe(
      `MCP URL ............ ${mcp}   (every server you may use, as one)`,
    );
    expect(lines.find((line) => line.startsWith("Servers"))).toBe(
      `Servers ............ ${mcp}/everything  ${mcp}/tickets   (one each)`,
    );
    expect(printed).toContain(`claude mcp add --transport http company-mcp ${mcp}\n`);
    expect(printed).toContain(`{"servers":{"company-mcp":{"type":"http","url":"${mcp}"}}}`);
    expect(printed).toContain(`URL ${mcp}\n`);
  });

  it("is the one the README shows", async () => {
    const { readFile } = await import("node:fs/promises");
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const shown = readme.match(/When everything is up it prints:\n\n```\n([\s\S]*?)```/)?.[1];
    expect(`\n${shown}`).toBe(banner("http://127.0.0.1:8787", ["everything"], "dev@example.com"));
  });
});
