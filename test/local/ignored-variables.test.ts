import { describe, expect, it } from "vitest";
import { ignoredOriginVariables, ignoredVariablesLine } from "../../local/ignored-variables.ts";

describe("npm start and the origin's variables", () => {
  it("names the origin's settings set in its environment, which it does not pass on, but not DATABASE_URL, which it reads", () => {
    const env = { MCP_POLICY: '{"rules":[]}', STDIO_MAX_PROCESSES: "4", DATABASE_URL: "postgres://x", HOME: "/root", PORT: "" };
    expect(ignoredOriginVariables(env)).toEqual(["MCP_POLICY", "STDIO_MAX_PROCESSES"]);
    expect(ignoredVariablesLine(["MCP_POLICY"])).toBe(
      'npm start ignores MCP_POLICY in its environment: put this setting in the configuration file\'s "origin" section (MCP_PROXY_CONFIG, or proxy.config.json) instead',
    );
    expect(ignoredVariablesLine([])).toBeUndefined();
  });
});
