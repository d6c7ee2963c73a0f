import { describe, expect, it } from "vitest";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { ADMIN, AUDIENCE, SERVICE_ACCOUNT } from "./google-fake-setup.ts";

// The configuration of googleCredentials: where the token may go for each transport, never on a shared connection,
// and only with the origin's google block. Each refusal names the key.

const DRIVE = "https://www.googleapis.com/auth/drive.readonly";
const GOOGLE = { audience: AUDIENCE, serviceAccount: SERVICE_ACCOUNT, adminUser: ADMIN, awsRegion: "eu-west-1" };
const STDIO = { transport: "stdio", command: "node" };
const HTTP = { transport: "http", url: "http://drive.internal/mcp", identity: "headers" };

/** The origin's configuration with one server `drive`, validated as the origin loads it; the problems it has. */
function problemsOf(server: Record<string, unknown>, google: object | "none" = GOOGLE): string[] {
  const content = {
    publicUrl: "https://origin.example.test",
    edgeIssuer: "https://edge.example.test",
    ...(google !== "none" && { google }),
    servers: { drive: server },
  };
  try {
    loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: {}, file: { path: "origin.json", content } });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe("googleCredentials in the configuration", () => {
  it("accepts an env for a stdio server and a header for an http server", () => {
    expect(problemsOf({ ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE_TOKEN" } } })).toEqual([]);
    expect(problemsOf({ ...HTTP, googleCredentials: { scopes: [DRIVE], inject: { header: "authorization" } } })).toEqual([]);
    expect(
      problemsOf({ ...HTTP, identity: "jwt", googleCredentials: { scopes: [DRIVE], inject: { header: "x-google-token" } } }),
    ).toEqual([]);
  });

  it.each([
    [
      "a header for a stdio server",
      { ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { header: "authorization" } } },
      /servers\.drive\.googleCredentials\.inject .*expected \{ "env": "<NAME>" \} for a stdio server/,
    ],
    [
      "an env for an http server",
      { ...HTTP, googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE_TOKEN" } } },
      /servers\.drive\.googleCredentials\.inject .*expected \{ "header": "<name>" \} for an http server/,
    ],
    [
      "a shared stdio server",
      { ...STDIO, sharing: "shared", googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE_TOKEN" } } },
      /servers\.drive\.sharing .*expected "per-user" with googleCredentials/,
    ],
    [
      "a shared http server",
      { ...HTTP, identity: "none", sharing: "shared", googleCredentials: { scopes: [DRIVE], inject: { header: "x-token" } } },
      /servers\.drive\.sharing .*expected "per-user" with googleCredentials/,
    ],
    [
      "no scope",
      { ...STDIO, googleCredentials: { scopes: [], inject: { env: "GOOGLE_TOKEN" } } },
      /servers\.drive\.googleCredentials\.scopes .*expected at least one scope/,
    ],
    [
      "the Authorization header beside the identity JWT",
      { ...HTTP, identity: "jwt", googleCredentials: { scopes: [DRIVE], inject: { header: "Authorization" } } },
      /servers\.drive\.googleCredentials\.inject\.header .*"identity": "headers" or "none"/,
    ],
    [
      "beside the server's own OAuth",
      { ...HTTP, oauth: {}, googleCredentials: { scopes: [DRIVE], inject: { header: "x-token" } } },
      /servers\.drive\.googleCredentials .*either oauth or googleCredentials/,
    ],
    [
      "an inject that is neither",
      { ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { file: "/tmp/token" } } },
      /servers\.drive\.googleCredentials\.inject .*\{ "header": "<name>" \} \(http servers\) or \{ "env": "<NAME>" \}/,
    ],
    [
      "an env name that is not one",
      { ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE TOKEN" } } },
      /servers\.drive\.googleCredentials\.inject/,
    ],
  ])("refuses %s", (_case, server, problem) => {
    const problems = problemsOf(server);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it("accepts a google block without adminUser when it serves only googleCredentials (no group look-up)", () => {
    const { adminUser: _admin, ...withoutAdmin } = GOOGLE;
    const server = { ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE_TOKEN" } } };
    expect(problemsOf(server, withoutAdmin)).toEqual([]);
  });

  it("refuses googleCredentials without the origin's google block, saying so", () => {
    const problems = problemsOf({ ...STDIO, googleCredentials: { scopes: [DRIVE], inject: { env: "GOOGLE_TOKEN" } } }, "none");
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/servers\.drive\.googleCredentials .*expected the origin's google block/);
  });
});
