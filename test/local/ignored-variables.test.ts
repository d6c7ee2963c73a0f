import { describe, expect, it } from "vitest";
import { secretsProviderFor } from "../../aws/origin/secrets/select.ts";
import {
  edgeVariables,
  edgeVariablesLines,
  ignoredOriginVariables,
  ignoredVariablesLine,
  withoutProcessVariables,
} from "../../local/ignored-variables.ts";

describe("npm start and the origin's variables", () => {
  it("names the origin's settings set in its environment, which it does not pass on, but not DATABASE_URL, which it reads", () => {
    const env = { MCP_POLICY: '{"rules":[]}', STDIO_MAX_PROCESSES: "4", DATABASE_URL: "postgres://x", HOME: "/root", PORT: "" };
    expect(ignoredOriginVariables(env)).toEqual(["MCP_POLICY", "STDIO_MAX_PROCESSES"]);
    expect(ignoredVariablesLine(["MCP_POLICY"])).toBe(
      'npm start ignores MCP_POLICY in its environment: put this setting in the configuration file\'s "origin" section (MCP_PROXY_CONFIG, or proxy.config.json) instead',
    );
    expect(ignoredVariablesLine([])).toBeUndefined();
  });

  it("does not send what npm start wires itself (its ports, addresses and pool) to the configuration file, which it overrides too", () => {
    expect(ignoredOriginVariables({ PORT: "9000", HOST: "0.0.0.0" })).toEqual(["HOST", "PORT"]);
    expect(ignoredVariablesLine(["HOST", "PORT"])).toBe(
      'npm start ignores HOST, PORT in its environment: it sets HOST, PORT itself, from its own settings (the ports: EDGE_PORT, ORIGIN_PORT and the others in the README\'s "Settings for npm start")',
    );
    expect(ignoredVariablesLine(["MCP_POLICY", "DATABASE_POOL_MAX"])).toMatch(
      /in the configuration file's "origin" section .* instead; it sets DATABASE_POOL_MAX itself/,
    );
  });

  it("ignores UPSTREAM_SECRETS_PREFIX, saying so: a server's secret is still read from its environment, not AWS Secrets Manager", async () => {
    const env: Record<string, string | undefined> = {
      UPSTREAM_SECRETS_PREFIX: "mcp-edge-proxy/upstream/",
      TICKETS_API_KEY: "local-value",
    };
    expect(ignoredOriginVariables(env)).toEqual(["UPSTREAM_SECRETS_PREFIX"]);
    expect(ignoredVariablesLine(["UPSTREAM_SECRETS_PREFIX"])).toBe(
      'npm start ignores UPSTREAM_SECRETS_PREFIX in its environment: a server\'s { "secret": "NAME" } is read from npm start\'s environment (the variable NAME), never from AWS Secrets Manager',
    );
    // What its in-process origin's secrets provider then reads.
    withoutProcessVariables(env);
    expect(env).toEqual({ TICKETS_API_KEY: "local-value" });
    await expect(secretsProviderFor(env, () => {}).get("TICKETS_API_KEY")).resolves.toBe("local-value");
  });
});

describe("npm start and the edge's variables", () => {
  it("passes the edge's settings set in its environment on to the edge, and names them", () => {
    const env = { IDP_ALLOWED_DOMAINS: "example.com", ACCESS_TOKEN_TTL_SECONDS: "300", MCP_POLICY: "{}", EDGE_DISPLAY_NAME: "" };
    const edge = edgeVariables(env);
    expect(edge).toEqual({ settings: { IDP_ALLOWED_DOMAINS: "example.com", ACCESS_TOKEN_TTL_SECONDS: "300" }, wired: [] });
    expect(edgeVariablesLines(edge)).toEqual([
      "npm start passes IDP_ALLOWED_DOMAINS, ACCESS_TOKEN_TTL_SECONDS from its environment to the edge",
    ]);
  });

  it("keeps out, and names, those that wire the edge to the local parts", () => {
    const edge = edgeVariables({ PUBLIC_URL: "https://mcp.example.com", IDP_ISSUER: "https://accounts.google.com" });
    expect(edge).toEqual({ settings: {}, wired: ["PUBLIC_URL", "IDP_ISSUER"] });
    expect(edgeVariablesLines(edge)).toEqual([
      "npm start ignores PUBLIC_URL, IDP_ISSUER in its environment: it sets these itself, to wire the edge to its local origin, identity provider and servers",
    ]);
    expect(edgeVariablesLines(edgeVariables({}))).toEqual([]);
  });
});
