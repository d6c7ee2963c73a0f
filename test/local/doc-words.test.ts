import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLIENTS } from "../../client-config/clients.ts";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

describe("docs use the words of what they describe", () => {
  it("dashboard.md names the audit delivery tiles as the page labels them", () => {
    const page = read("worker/ops/pages/audit-delivery.ts");
    const labels = [...new Set([...page.matchAll(/"(Audit [a-z ]+)"/g)].map(([, label]) => String(label)))];
    expect(labels.sort()).toEqual(["Audit dead letters", "Audit delivery lag", "Audit queue backlog", "Audit spool"]);
    const doc = read("docs/dashboard.md");
    expect(labels.filter((label) => !doc.includes(`\n| ${label} |`))).toEqual([]);
    expect(doc).not.toMatch(/\| Audit delivery: /);
  });

  it("claude-code.md says client-config writes at user scope, as clients.ts does (top-level mcpServers)", () => {
    const claude = CLIENTS.find((client) => client.id === "claude-code");
    expect(claude?.serversPath).toEqual(["mcpServers"]);
    expect(read("docs/clients/claude-code.md").replace(/\s+/g, " ")).toContain(
      "writes the same entry at user scope (what `--scope user` does",
    );
  });
});
