import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * `--help` and command-line mistakes of the operators' commands (`npm run audit`, `policy`, `pins`,
 * `upstream-connections`, `keygen`): the usage
 * on stdout with exit 0 for `--help`/`-h`; a one-line reason and the usage with exit 2, never a stack trace, for an
 * unknown option. No database: none of this needs one, so DATABASE_URL is unset.
 */
const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const CLIS = {
  audit: path("../../aws/origin/audit/cli.ts"),
  policy: path("../../aws/origin/policy/cli.ts"),
  pins: path("../../aws/origin/pinning/cli.ts"),
  "upstream-connections": path("../../aws/origin/vault/cli.ts"),
  keygen: path("../../scripts/keygen.ts"),
} as const;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(name: keyof typeof CLIS, args: string[]): Promise<Run> {
  const { DATABASE_URL: _unset, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLIS[name], ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** What a Node stack trace or an uncaught error looks like. */
const STACK_TRACE = /^\s+at |\bERR_[A-Z_]+\b|TypeError|Node\.js v\d/m;

describe.each(Object.keys(CLIS) as (keyof typeof CLIS)[])("npm run %s", (name) => {
  it.each(["--help", "-h"])("prints the usage on stdout and exits 0 for %s", async (flag) => {
    const run = await cli(name, [flag]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^usage:\n/);
    expect(run.stdout).toContain(`npm run ${name}`);
    expect(run.stdout).not.toContain('"kty"'); // keygen generates nothing
  });

  it("refuses an unknown option with exit 2, the reason and the usage, without a stack trace", async () => {
    const run = await cli(name, ["--no-such-option"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(new RegExp(`^${name}: .*--no-such-option.*\n\nusage:\n`));
    expect(run.stderr).not.toMatch(STACK_TRACE);
  });
});

describe("npm run pins, a mistake among its arguments", () => {
  it("prints the usage with exit 2 when given no command", async () => {
    const run = await cli("pins", []);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr).toMatch(/^usage:\n/);
    const optionsOnly = await cli("pins", ["--by", "admin@example.com"]);
    expect(optionsOnly.stderr).toMatch(/^pins: no command: expected pending, diff, approve or reject\n\nusage:\n/);
  });

  it.each([
    [["approve", "docs", "tool", "search", "--by", "me"], '--by "me" is not an e-mail address (name@example.com)'],
    [["reject", "docs", "tools", "search", "--by", "admin@example.com"], 'unknown kind "tools": use one of tool, prompt'],
  ])("refuses %j before asking the database: %s", async (args, reason) => {
    const run = await cli("pins", args);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr.split("\n\nusage:\n")[0]).toContain(`pins: ${reason}`);
  });

  it("refuses an option without its value as a usage error", async () => {
    const run = await cli("pins", ["approve", "docs", "tool", "search", "--by"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^pins: .*--by.*\n\nusage:\n/);
    expect(run.stderr).not.toMatch(STACK_TRACE);
  });

  // Refused before the database is asked (none here): a stray word is a mistake, never ignored.
  it.each([
    [["pending", "extra"], 'unexpected argument "extra" after pending'],
    [["diff", "docs", "tool", "search", "extra"], 'unexpected argument "extra" after diff <server> <kind> <name>'],
    [
      ["approve", "docs", "tool", "search", "junk", "more", "--by", "admin@example.com"],
      'unexpected arguments "junk" "more" after approve <server> <kind> <name>',
    ],
    [
      ["reject", "docs", "tool", "search", "--by", "admin@example.com", "junk"],
      'unexpected argument "junk" after reject <server> <kind> <name>',
    ],
  ])("refuses the stray words of %j with exit 2, naming them, and the usage", async (args, reason) => {
    const run = await cli("pins", args);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    const [said, usage] = run.stderr.split("\n\nusage:\n");
    expect(said).toBe(`pins: ${reason}`);
    expect(usage).toContain("npm run pins -- pending");
    expect(run.stderr).not.toMatch(STACK_TRACE);
  });
});

describe("npm run upstream-connections, a mistake among its arguments", () => {
  it("prints the usage with exit 2 when given no command", async () => {
    const run = await cli("upstream-connections", []);
    expect(run).toMatchObject({ code: 2, stdout: "" });
    expect(run.stderr).toMatch(/^usage:\n/);
    expect(run.stderr).not.toContain("unknown command");
    const optionsOnly = await cli("upstream-connections", ["--user", "ana@example.com"]);
    expect(optionsOnly).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^upstream-connections: no command: expected list or revoke\n\nusage:\n/),
    });
  });

  it("refuses words and options its command does not take, instead of ignoring them", async () => {
    const extra = await cli("upstream-connections", ["list", "extra"]);
    expect(extra).toMatchObject({ code: 2, stdout: "" });
    expect(extra.stderr).toMatch(/^upstream-connections: unexpected argument "extra" after list\n\nusage:\n/);
    // An address without its --user: revoking must not go ahead on what it understood.
    const stray = await cli("upstream-connections", [
      "revoke",
      "ana@example.com",
      "--user",
      "bo@example.com",
      "--by",
      "me@example.com",
    ]);
    expect(stray).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unexpected argument "ana@example.com" after revoke'),
    });
    const byOnList = await cli("upstream-connections", ["list", "--server", "crm"]);
    expect(byOnList).toMatchObject({ code: 2, stderr: expect.stringContaining("list takes only --user") });
  });
});

describe("npm run keygen", () => {
  it("prints an EC key by default and a shared key with --hmac", async () => {
    const ec = await cli("keygen", []);
    expect(ec.code).toBe(0);
    expect(JSON.parse(ec.stdout)).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", kid: expect.any(String) });
    const shared = await cli("keygen", ["--hmac"]);
    expect(shared.code).toBe(0);
    expect(JSON.parse(shared.stdout)).toMatchObject({ kty: "oct", alg: "HS256", kid: expect.any(String) });
  });

  it("refuses an argument that is not an option", async () => {
    const run = await cli("keygen", ["hmac"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^keygen: .*\n\nusage:\n/);
  });
});
