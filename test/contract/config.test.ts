import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadOriginConfig } from "../../aws/origin/config.ts";
import { EDGE_ENV_NAMES, ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, configErrorMap, loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig, hostlessAllowedOrigins, OriginConfig } from "../../contract/config/schema.ts";

const validEdgeEnv = {
  PUBLIC_URL: "https://mcp.example.com",
  ORIGIN_URL: "https://origin.example.com",
  IDP_ISSUER: "https://accounts.google.com",
  IDP_CLIENT_ID: "client.apps.googleusercontent.com",
  IDP_CLIENT_SECRET: "placeholder-secret",
  EDGE_SIGNING_KEY: '{"kty":"EC"}',
};

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("configuration", () => {
  it("accepts the example configuration file as it is shipped (a stdio and an HTTP upstream)", () => {
    const example = new URL("../../proxy.config.example.json", import.meta.url).pathname;
    const config = loadOriginConfig({ MCP_PROXY_CONFIG: example });
    expect(Object.keys(config.servers)).toEqual(["docs", "tickets"]);
    expect(config.servers.tickets).toMatchObject({
      transport: "http",
      identity: "jwt",
      headers: { "x-api-key": { secret: "TICKETS_API_KEY" } },
    });
  });

  it("refuses an HTTP upstream whose URL is not http(s), naming the key", () => {
    const bad = { servers: { x: { transport: "http", url: "ftp://files.example/mcp" } } };
    expect(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com" },
        file: { path: "f", content: bad },
      }),
    ).toThrow(/servers\.x\.url/);
  });

  it("applies defaults under the environment", () => {
    const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: validEdgeEnv });
    expect(config.idp.scopes).toEqual(["openid", "email", "profile"]);
    expect(config.accessTokenTtlSeconds).toBe(3600);
  });

  it("names the key, where its value came from, what was expected and what it got", () => {
    const problems = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, PUBLIC_URL: "http://mcp.example.com" } }),
    );
    expect(problems).toEqual([
      'publicUrl (from environment PUBLIC_URL): expected https (plain http is accepted only on a loopback host: localhost, 127.x.x.x or [::1]); got "http://mcp.example.com"',
    ]);
  });

  it("words a range or a choice as the project's other messages do, not as zod's defaults", () => {
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { PORT: "70000", DATABASE_POOL_MAX: "0", DATABASE_MIGRATE: "never", METRICS_PORT: "0" },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "port (from environment PORT): expected a whole number from 1 to 65535; got 70000",
        "databasePoolMax (from environment DATABASE_POOL_MAX): expected a whole number from 1 to 100; got 0",
        'databaseMigrate (from environment DATABASE_MIGRATE): expected one of at-start, verify; got "never"',
      ]),
    );
    expect(problems.join("\n")).not.toMatch(/Too (big|small)|Invalid option|<=|>=|"\|"/);
    // A true/false setting, which the environment gives as JSON.
    const flag = problemsOf(() => loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: { GOOGLE_CHECK_ACCOUNTS: "yes" } }));
    expect(flag).toContain('google.checkAccounts (from environment GOOGLE_CHECK_ACCOUNTS): expected true or false; got "yes"');
    // A schema's own message still wins over these words.
    const own = z.object({ n: z.number().int().min(1, "expected at least one") }).safeParse({ n: 0 }, { error: configErrorMap });
    expect(own.error?.issues[0]?.message).toBe("expected at least one");
  });

  it("says which variable sets a missing key", () => {
    const { IDP_ISSUER: _missing, ...env } = validEdgeEnv;
    const problems = problemsOf(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^idp\.issuer \(from defaults; set environment IDP_ISSUER or the file\): .*; it is missing$/);
  });

  it("says what a missing key holds, and where to set it also when a file holds others", () => {
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { EDGE_ISSUER: "https://e.example.com" },
        file: { path: "/etc/p.json (origin section)", content: { servers: { a: { transport: "stdio" } } } },
      }),
    );
    expect(problems).toEqual([
      "publicUrl (from defaults; set environment ORIGIN_PUBLIC_URL or the file /etc/p.json (origin section)): expected an absolute URL such as https://mcp.example.com; it is missing",
      // No variable sets it: the object in the file lacks it.
      "servers.a.command (from /etc/p.json (origin section)): expected text; it is missing",
    ]);
  });

  it("prints the sample messages of docs/configuration.md as they are written there", () => {
    const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const samples = [...doc.matchAll(/```\n([\s\S]*?)```/g)].map(([, text]) => String(text));
    const edgeSample = samples.find((text) => text.startsWith("invalid configuration:\n"));
    const originSample = samples.find((text) => text.includes("ORIGIN_PUBLIC_URL"));
    // The Worker's own hint, as worker/config.ts passes it (its module, typed for the Workers runtime, is not
    // imported here; test/edge/health.test.ts pins what the Worker logs).
    const worker = readFileSync(new URL("../../worker/config.ts", import.meta.url), "utf8");
    const whereToSet = /const WHERE_TO_SET = "([^"]+)";/.exec(worker)?.[1];
    expect(whereToSet).toEqual(expect.any(String));
    const { IDP_ISSUER: _missing, ...env } = { ...validEdgeEnv, PUBLIC_URL: "http://mcp.example.com" };
    let edgeMessage = "(accepted)";
    try {
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env, whereToSet });
    } catch (error) {
      edgeMessage = (error as Error).message;
    }
    expect(edgeSample).toBe(`${edgeMessage}\n`);
    const [origin] = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { EDGE_ISSUER: "https://e.example.com" },
        file: { path: "/srv/proxy.config.json (origin section)", content: {} },
      }),
    );
    expect(originSample).toBe(`  - ${origin}\n`);
  });

  it("reports every wrong key at once, and never prints a secret", () => {
    const problems = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, {
        env: { ...validEdgeEnv, ACCESS_TOKEN_TTL_SECONDS: "10", IDP_CLIENT_SECRET: "" },
        file: { path: "f.json", content: { idp: { clientSecret: 42 } } },
      }),
    );
    expect(problems).toHaveLength(2);
    expect(problems.join("\n")).toContain("accessTokenTtlSeconds (from environment ACCESS_TOKEN_TTL_SECONDS)");
    expect(problems.join("\n")).toContain("idp.clientSecret (from f.json)");
    expect(problems.join("\n")).toContain("a value (not shown)");
    expect(problems.join("\n")).not.toContain("42");
  });

  it("never prints a credential a setting holds, whatever is wrong with it", () => {
    const key = "Q1k37y1xSz20mpf1ZYELpqXEXIUkLfmfpBVhfEhhseg=";
    const env = {
      ORIGIN_PUBLIC_URL: "https://o.example.com",
      EDGE_ISSUER: "https://e.example.com",
      UPSTREAM_VAULT_LOCAL_KEY: `${key}\n`, // a pasted newline
      REQUEST_STATE_KEY: "short-state-key",
      MCP_SERVERS: '{"docs":{"transport":"stdio","command":"x","env":{"GITHUB_TOKEN":"ghp_pasted" "oops"}}}',
    };
    const problems = problemsOf(() => loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env })).join("\n");
    expect(problems).toContain("servers (from environment MCP_SERVERS): expected JSON (not valid JSON at position");
    for (const secret of [key, "short-state-key", "ghp_pasted"]) expect(problems).not.toContain(secret);
    const header = {
      servers: {
        h: { transport: "http", url: "https://h.example.com/mcp", headers: { authorization: 7 } },
        s: { transport: "stdio", command: "x", env: "GITHUB_TOKEN=ghp_whole_env_as_text" },
      },
    };
    const typed = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com", REQUEST_STATE_KEY: "s" },
        file: { path: "f.json", content: header },
      }),
    ).join("\n");
    expect(typed).toMatch(/requestStateKey .*a value \(not shown\)/);
    expect(typed).toMatch(/servers\.h\.headers\.authorization .*a value \(not shown\)/);
    expect(typed).toMatch(/servers\.s\.env .*a value \(not shown\)/);
    expect(typed).not.toContain("ghp_whole_env_as_text");
    expect(typed).not.toMatch(/"s"/);
    // Settings that only mention a credential stay readable.
    const ttl = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, ACCESS_TOKEN_TTL_SECONDS: "10" } }),
    );
    expect(ttl.join("\n")).toContain("expected a whole number from 60 to 86400; got 10");
  });

  it("never shows an upstream's command line or command, and shows a URL without its user name, password and query, saying so", () => {
    const originEnv = { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com" };
    const servers = {
      a: { transport: "http", url: "ftp://user:CANARYURLPW@host/mcp" },
      // Pasted unencoded: the / makes it no URL at all, and the password must not show either.
      b: { transport: "http", url: "https://user:ab/CANARYSLASH@host/mcp" },
      c: { transport: "stdio", command: "x", args: "--token CANARYARGTOKEN01" },
      d: { transport: "stdio", command: ["sh", "-c", "serve --token CANARYCOMMAND"] },
      // A key in the query (or the fragment), where some servers take theirs.
      g: { transport: "http", url: "gopher://host/mcp?api_key=CANARYQUERY&x=1" },
      h: { transport: "http", url: "ws://user:CANARYBOTH@host/mcp#key=CANARYFRAGMENT" },
    };
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: originEnv, file: { path: "f.json", content: { servers } } }),
    );
    expect(problems).toEqual([
      `servers.a.url (from f.json): expected an http:// or https:// URL of the server's MCP endpoint; got "ftp://host/mcp" (a URL's user:password@ removed)`,
      `servers.b.url (from f.json): expected an http:// or https:// URL of the server's MCP endpoint; got "https://host/mcp" (a URL's user:password@ removed)`,
      "servers.c.args (from f.json): expected a list; got a value (not shown)",
      "servers.d.command (from f.json): expected text; got a value (not shown)",
      `servers.g.url (from f.json): expected an http:// or https:// URL of the server's MCP endpoint; got "gopher://host/mcp?…" (a URL's query removed)`,
      `servers.h.url (from f.json): expected an http:// or https:// URL of the server's MCP endpoint; got "ws://host/mcp?…" (a URL's user:password@ and query removed)`,
    ]);
    // A schema's own message quoting a URL (two servers' audiences, their URLs by default).
    const twin = () => ({ transport: "http", url: "https://user:CANARYAUDIENCE@h.example.com/mcp" });
    const twins = { e: twin(), f: twin() };
    const audience = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: originEnv, file: { path: "f.json", content: { servers: twins } } }),
    ).join("\n");
    expect(audience).toContain('server "e" has "https://h.example.com/mcp" too');
    expect(audience).toContain("(a URL's user:password@ removed)");
    expect(`${problems.join("\n")}\n${audience}`).not.toMatch(/CANARY/);
  });

  it("refuses a number that is not one", () => {
    const problems = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, ACCESS_TOKEN_TTL_SECONDS: "an hour" } }),
    );
    expect(problems).toEqual([
      'accessTokenTtlSeconds (from environment ACCESS_TOKEN_TTL_SECONDS): expected a number; got "an hour"',
    ]);
  });

  it("says what a JSON setting wants when it is not JSON: true or false for a flag (WARM_ON_SIGN_IN=no), what JSON looks like otherwise", () => {
    const problems = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, WARM_ON_SIGN_IN: "no", AUDIT_REDACT: "keys: x" } }),
    );
    expect(problems).toEqual([
      'warmOnSignIn (from environment WARM_ON_SIGN_IN): expected true or false; got "no"',
      'audit.redact (from environment AUDIT_REDACT): expected JSON (not valid JSON): true, false, a number, "text" in quotes, [a, list] or {…}',
    ]);
  });

  it("refuses a blank number (an empty one is unset), and one in another base, which Number() would read as 0 or as hexadecimal", () => {
    for (const raw of [" ", "0x3e8", "0b1", "1_000", "Infinity", "1,5", "1e400"]) {
      const problems = problemsOf(() =>
        loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, TOKEN_CACHE_SECONDS: raw } }),
      );
      expect(problems, JSON.stringify(raw)).toEqual([
        `tokenCacheSeconds (from environment TOKEN_CACHE_SECONDS): expected a number; got "${raw}"`,
      ]);
    }
    const fraction = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, TOKEN_CACHE_SECONDS: "2.5" } }),
    );
    expect(fraction).toEqual(["tokenCacheSeconds (from environment TOKEN_CACHE_SECONDS): expected a whole number; got 2.5"]);
    for (const [raw, value] of [
      [" 30 ", 30],
      ["1e1", 10],
      ["+5", 5],
      ["0", 0],
    ] as const) {
      const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, TOKEN_CACHE_SECONDS: raw } });
      expect(config.tokenCacheSeconds, raw).toBe(value);
    }
  });

  it("refuses a shared edge key too short for HS256, or beside a key-set URL, without printing it", () => {
    const short = JSON.stringify({ kty: "oct", kid: "edge-1", k: "c2hvcnQtc2VjcmV0LXZhbHVl" });
    const originEnv = { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com" };
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { ...originEnv, EDGE_ASSERTION_SHARED_KEYS: short, EDGE_JWKS_URL: "https://e.example.com/jwks" },
      }),
    );
    expect(problems).toHaveLength(2);
    expect(problems.join("\n")).toContain("edgeJwksUrl (from environment EDGE_JWKS_URL): set edgeJwksUrl");
    expect(problems.join("\n")).toContain(
      'edgeSharedKeys (from environment EDGE_ASSERTION_SHARED_KEYS): key "edge-1" has 144 bits; HS256 needs at least 256',
    );
    expect(problems.join("\n")).not.toContain("c2hvcnQtc2VjcmV0LXZhbHVl");
    const good = JSON.stringify({ kty: "oct", kid: "edge-1", k: Buffer.alloc(32, 7).toString("base64url") });
    const config = loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: { ...originEnv, EDGE_ASSERTION_SHARED_KEYS: good } });
    expect(config.edgeSharedKeys).toBe(good);
  });

  it("refuses two HTTP servers verifying identity JWTs under one audience (each would accept the other's tokens)", () => {
    const originEnv = { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com" };
    const http = (url: string, extra: Record<string, unknown> = {}) => ({ transport: "http", url, ...extra });
    const servers = {
      crm: http("https://crm.internal/mcp"),
      wiki: http("https://wiki.internal/mcp", { audience: "https://crm.internal/mcp" }),
      notes: http("https://notes.internal/mcp", { audience: "notes" }),
      files: http("https://files.internal/mcp", { identity: "headers", audience: "notes" }),
    };
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: originEnv, file: { path: "f.json", content: { servers } } }),
    );
    expect(problems).toEqual([
      'servers.wiki.audience (from f.json): expected an identity audience of its own: server "crm" has "https://crm.internal/mcp" too, so each would accept the other\'s tokens; got "https://crm.internal/mcp"',
    ]);
  });

  // s28 docs hunt D2 and review R4: an entry written as a URL or with a port never matched (the host alone is compared);
  // it is taken as its host, so that an upgrade makes such a deployment work rather than refuse every request.
  it("takes an allowed origin written as a URL or with a port as its host, lowercased as the Origin header is compared", () => {
    const entries = "App.Example.com,https://tools.example.org:8443/app,my_host.internal:3000,127.0.0.1,[::1]";
    const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...validEdgeEnv, MCP_ALLOWED_ORIGINS: entries } });
    expect(config.mcpAllowedOrigins).toEqual(["app.example.com", "tools.example.org", "my_host.internal", "127.0.0.1", "[::1]"]);
  });

  // s29 skew hunt F1: the release before 7d9a118 accepted any entry (one naming no host matched nothing); refusing one
  // made the upgraded edge answer 500 to every request. It is kept, allows nothing, and /readyz and npm start name it.
  it("keeps an allowed origin that names no host (a wildcard, a space) and names it, rather than refusing the edge", () => {
    for (const entry of ["*.example.com", "app example.com", "https://", "*"]) {
      const env = { ...validEdgeEnv, MCP_ALLOWED_ORIGINS: `tools.example.com,${entry}` };
      const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
      expect(config.mcpAllowedOrigins).toEqual(["tools.example.com", entry]);
      expect(hostlessAllowedOrigins(config.mcpAllowedOrigins)).toEqual([entry]);
    }
  });

  it("takes <scheme>://* for a scheme other than http(s) as written, the SDK's form for every extension of a browser", () => {
    const env = { ...validEdgeEnv, MCP_ALLOWED_ORIGINS: "Moz-Extension://*,https://*" };
    const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
    expect(config.mcpAllowedOrigins).toEqual(["moz-extension://*", "https://*"]);
    expect(hostlessAllowedOrigins(config.mcpAllowedOrigins)).toEqual(["https://*"]);
  });

  it("refuses unknown keys (a typo is not silently ignored)", () => {
    const problems = problemsOf(() =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: validEdgeEnv, file: { path: "f.json", content: { pubicUrl: "x" } } }),
    );
    expect(problems.join("\n")).toMatch(/pubicUrl/);
  });

  it("refuses a variable a typo away from a setting, naming the setting and never the value", () => {
    const env = { ...validEdgeEnv, IDP_ALLOWED_DOMAIN: "example.com", ORIGN_URL: "https://o.example.com" };
    const problems = problemsOf(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env }));
    expect(problems).toEqual([
      "IDP_ALLOWED_DOMAIN (environment): not a setting; did you mean IDP_ALLOWED_DOMAINS? (a name unknown to every setting would be ignored)",
      "ORIGN_URL (environment): not a setting; did you mean ORIGIN_URL? (a name unknown to every setting would be ignored)",
    ]);
  });

  it("takes a wrangler.toml [vars] entry written without quotes as the value it is (wrangler passes it as JSON)", () => {
    const env = {
      ...validEdgeEnv,
      IDP_ALLOWED_DOMAINS: ["example.com", " example.org "],
      SERVER_NAMES: ["docs", "tickets"],
      ACCESS_TOKEN_TTL_SECONDS: 600,
      WARM_ON_SIGN_IN: false,
    };
    const config = loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env });
    expect(config.idp.allowedDomains).toEqual(["example.com", "example.org"]);
    expect(config.servers).toEqual(["docs", "tickets"]);
    expect(config.accessTokenTtlSeconds).toBe(600);
    expect(config.warmOnSignIn).toBe(false);
  });

  it("refuses a [vars] value of another kind than its setting reads, saying how to write it, never showing a secret", () => {
    const env = { ...validEdgeEnv, IDP_ALLOWED_DOMAINS: 5, PUBLIC_URL: true, EDGE_SIGNING_KEY: 123456789, IDP_SCOPES: [1] };
    const problems = problemsOf(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env }));
    expect(problems).toEqual(
      expect.arrayContaining([
        'publicUrl (from environment PUBLIC_URL): expected text; got true (in wrangler.toml, write it as a quoted string: NAME = "value")',
        'idp.scopes (from environment IDP_SCOPES): expected a list of names; got an array of 1 (in wrangler.toml, write it as an array of strings, NAME = ["a", "b"], or one string, NAME = "a,b")',
        'idp.allowedDomains (from environment IDP_ALLOWED_DOMAINS): expected a list of names; got 5 (in wrangler.toml, write it as an array of strings, NAME = ["a", "b"], or one string, NAME = "a,b")',
      ]),
    );
    const signingKey = problems.find((line) => line.startsWith("signingKey"));
    expect(signingKey).toContain("got a value (not shown)");
    expect(signingKey).not.toContain("123456789");
  });

  it("refuses a typo of a setting written without quotes in wrangler.toml", () => {
    const env = { ...validEdgeEnv, IDP_ALLOWED_DOMAIN: ["example.com"] };
    expect(problemsOf(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env }))).toEqual([
      "IDP_ALLOWED_DOMAIN (environment): not a setting; did you mean IDP_ALLOWED_DOMAINS? (a name unknown to every setting would be ignored)",
    ]);
  });

  it("reports a misspelled variable and the other wrong keys together, not one after the other", () => {
    const env = {
      ORIGIN_PUBLIC_URL: "https://o.example.com/",
      EDGE_ISSUER: "https://e.example.com",
      PORT: "70000",
      STDIO_MAX_PROCESES: "4",
    };
    const problems = problemsOf(() => loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env }));
    expect(problems[0]).toMatch(/^STDIO_MAX_PROCESES \(environment\): not a setting; did you mean STDIO_MAX_PROCESSES\?/);
    expect(problems.some((line) => line.startsWith("port (from environment PORT)"))).toBe(true);
  });

  it("leaves alone variables that are no typo of a setting: other words, one-word names, bindings", () => {
    const env = {
      ...validEdgeEnv,
      NODE_OPTIONS: "--enable-source-maps",
      HOME: "/home/origin",
      AWS_REGION: "eu-west-1",
      RATE_LIMIT_USER: { limit: () => {} },
    };
    expect(() => loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env })).not.toThrow();
    const originEnv = { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com", HOME: "/root" };
    expect(() => loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: originEnv })).not.toThrow();
  });

  it("names an unknown nested key by its whole path, with the keys allowed there", () => {
    const content = { stdio: { idleTimeoutSecs: 60 }, servers: { docs: { transport: "stdio", command: "x", arg: [] } } };
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { ORIGIN_PUBLIC_URL: "https://o.example.com", EDGE_ISSUER: "https://e.example.com" },
        file: { path: "f.json", content },
      }),
    );
    expect(problems).toContain(
      "stdio.idleTimeoutSecs (from f.json): unknown key; expected one of: idleTimeoutSeconds, maxProcesses, childUids",
    );
    // Inside a server entry (one of several shapes) the key is named without a list.
    expect(problems).toContain("servers.docs.arg (from f.json): unknown key");
  });
});

describe("origin configuration file", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcp-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const env = { ORIGIN_PUBLIC_URL: "https://origin.example.com", EDGE_ISSUER: "https://mcp.example.com" };

  it("takes the origin section of the file, with the environment over it", async () => {
    const path = join(dir, "proxy.config.json");
    await writeFile(
      path,
      JSON.stringify({ origin: { port: 9000, servers: { docs: { transport: "stdio", command: "docs-mcp" } } } }),
    );
    const config = loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path, PORT: "9100" });
    expect(config.port).toBe(9100);
    expect(config.servers.docs).toMatchObject({ command: "docs-mcp", args: [], env: {} });
  });

  it("names a bad server entry by its path in the file", async () => {
    const path = join(dir, "bad.json");
    await writeFile(
      path,
      JSON.stringify({ origin: { servers: { "Bad Name": { transport: "stdio", command: "x" }, ok: { transport: "ftp" } } } }),
    );
    const problems = problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }));
    expect(problems.join("\n")).toContain(
      `servers.Bad Name (from ${path} (origin section)): not a valid name here: expected 1-31 lowercase letters, digits or dashes`,
    );
    expect(problems.join("\n")).toContain("servers.ok.transport (from");
    expect(problems.join("\n")).toContain('expected "transport": "stdio"');
  });

  it("refuses a file whose top level holds anything but the origin section (a typo never passes silently)", async () => {
    const typo = join(dir, "typo.json");
    await writeFile(typo, JSON.stringify({ origni: { port: 9000 } }));
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: typo }))).toEqual([
      `${typo}: unknown top-level key "origni"; expected "origin"`,
    ]);
    const extra = join(dir, "extra.json");
    await writeFile(extra, JSON.stringify({ origin: {}, edge: {} }));
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: extra }))[0]).toContain('unknown top-level key "edge"');
    const list = join(dir, "list.json");
    await writeFile(list, JSON.stringify([{ origin: {} }]));
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: list }))[0]).toContain(
      'expected an object with an "origin" section',
    );
    const empty = join(dir, "empty.json");
    await writeFile(empty, "{}");
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: empty }))[0]).toContain('expected an "origin" section');
  });

  it("refuses a key written twice in one object, naming it and its lines (JSON.parse keeps the last silently)", async () => {
    const path = join(dir, "twice.json");
    const server = (command: string) => `{ "transport": "stdio", "command": "${command}" }`;
    await writeFile(
      path,
      [
        "{",
        `  "origin": { "servers": { "docs": ${server("a")},`,
        `    "docs": ${server("b")}, "wiki": ${server("c")} } },`,
        '  "origin": { "port": 9000 }',
        "}",
      ].join("\n"),
    );
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }))).toEqual([
      `${path}: "origin.servers.docs" is there 2 times (lines 2, 3); keep one`,
      `${path}: "origin" is there 2 times (lines 2, 4); keep one`,
    ]);
    // The same key in different objects is no duplicate.
    const apart = join(dir, "apart.json");
    await writeFile(apart, JSON.stringify({ origin: { servers: { a: { transport: "stdio", command: "a", env: { a: "1" } } } } }));
    expect(Object.keys(loadOriginConfig({ ...env, MCP_PROXY_CONFIG: apart }).servers)).toEqual(["a"]);
  });

  it("reads a file saved with a byte-order mark (as editors on Windows save UTF-8)", async () => {
    const path = join(dir, "bom.json");
    await writeFile(path, `\uFEFF${JSON.stringify({ origin: { port: 9001 } })}`);
    expect(loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }).port).toBe(9001);
  });

  it("refuses a placeholder ($ and a name in braces) in a server's env or headers: the file is not interpolated", async () => {
    const path = join(dir, "placeholder.json");
    const placeholder = (name: string) => `$\{${name}}`; // written as other MCP configurations write them
    const servers = {
      gh: { transport: "stdio", command: "gh-mcp", env: { GITHUB_TOKEN: placeholder("GITHUB_TOKEN"), PRICE: "$5" } },
      tickets: {
        transport: "http",
        url: "https://t.example.com/mcp",
        headers: { authorization: `Bearer ${placeholder("TICKETS")}` },
      },
    };
    await writeFile(path, JSON.stringify({ origin: { servers } }));
    const problems = problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }));
    expect(problems.map((line) => line.split(" (from")[0])).toEqual([
      "servers.gh.env.GITHUB_TOKEN",
      "servers.tickets.headers.authorization",
    ]);
    expect(problems[0]).toContain('the file is not interpolated, so write { "secret": "NAME" }');
    expect(problems.join("\n")).not.toContain(placeholder("GITHUB_TOKEN")); // env values are never shown
  });

  it("refuses a metrics port that is the origin's own port, and a host with a space", () => {
    const problems = problemsOf(() =>
      loadConfig(OriginConfig, ORIGIN_ENV_NAMES, {
        env: { ...env, PORT: "9100", METRICS_PORT: "9100", HOST: "0.0.0.0 " },
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^host \(from environment HOST\): expected an address to listen on/),
      expect.stringMatching(
        /^metrics\.port \(from environment METRICS_PORT\): expected a port of its own: 9100 is the origin's port/,
      ),
    ]);
  });

  it("says where a file stops being JSON without quoting it (JSON.parse would show the text around)", async () => {
    const path = join(dir, "unquoted.json");
    await writeFile(path, '{ "origin": { "servers": { "x": { "env": { "TOKEN": ghp_unquoted_secret } } } } }');
    const problems = problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }));
    expect(problems).toEqual([`${path}: not valid JSON at line 1`]);
    expect(problems.join("\n")).not.toContain("ghp_unquoted");
  });

  it("says so when the named file does not exist or is not JSON", async () => {
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: join(dir, "missing.json") }))[0]).toContain(
      "file not found",
    );
    const path = join(dir, "broken.json");
    await writeFile(path, "{ origin: ");
    expect(problemsOf(() => loadOriginConfig({ ...env, MCP_PROXY_CONFIG: path }))[0]).toContain(path);
  });
});
