import { readFileSync } from "node:fs";
import { DEFAULT_INHERITED_ENV_VARS } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { AGGREGATED_NAME_SEPARATOR } from "../../contract/aggregated-names.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

/** The doc comment right above `key` in `source`, as one line of text. */
const commentAbove = (source: string, key: string) => {
  const at = source.indexOf(key);
  return source
    .slice(source.lastIndexOf("/**", at), at)
    .replace(/\/\*\*|\*\/|\n\s*\*/g, " ")
    .replace(/\s+/g, " ");
};

describe("the configuration's own words", () => {
  it("a stdio server's env comment and configuration.md name what a child inherits (upstream-transport.ts)", () => {
    const comment = commentAbove(read("contract/config/schema.ts"), "  env: z.record(z.string(), SecretOrValue)");
    const doc = /A stdio child gets only a minimal environment \(([^)]*)\)/.exec(read("docs/configuration.md"))?.[1] ?? "";
    for (const name of DEFAULT_INHERITED_ENV_VARS) {
      expect(comment, name).toContain(name);
      expect(doc, name).toContain(`\`${name}\``);
    }
    expect(comment).toContain("TMPDIR");
    expect(comment).not.toMatch(/locale|LANG|LC_/);
  });

  it("a server name's comment says where it appears now (aggregate/public-names.ts)", () => {
    const comment = commentAbove(read("contract/config/schema.ts"), "export const ServerName");
    expect(comment).toContain(`\`<server>${AGGREGATED_NAME_SEPARATOR}<name>\``);
    expect(comment).not.toMatch(/\blater\b/);
  });

  it("analytics.md says which ops.source reads Analytics Engine, as a choice the dashboard has today", () => {
    const sources = EdgeConfig.shape.ops.unwrap().shape.source.unwrap().options;
    expect(sources).toContain("analytics-engine");
    const doc = read("docs/analytics.md");
    expect(doc).toContain("ops dashboard reads these data points through the SQL API when `ops.source` is `analytics-engine`");
    expect(doc).not.toMatch(/dashboard will read/);
  });

  it("oauth.registrationUnusedDays: renewed by a token request past half of it, in the comment as in configuration.md", () => {
    const comment = commentAbove(read("contract/config/schema.ts"), "registrationUnusedDays: z.");
    const provider = read("node_modules/@cloudflare/workers-oauth-provider/dist/oauth-provider.js");
    expect(provider).toContain("if (client.registrationExpiresAt - now > ttl / 2) return;");
    expect(comment).toContain("a token request past half of it renews it");
    expect(read("docs/configuration.md")).toContain("each token request past half of it renews it");
  });
});
