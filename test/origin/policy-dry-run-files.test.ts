import { describe, expect, it } from "vitest";
import { jsonFile, policyCli, workDir } from "./policy-dry-run-cli.ts";

// Every file the dry run reads is checked as the origin checks its configuration, before the database is reached:
// a mistake is refused (exit 2) with one line per problem, naming the file and the key, and nothing on stdout.

const allowDocs = { effect: "allow", who: { everyone: true }, servers: ["docs"] };
const servers = { github: { transport: "stdio", command: "github-mcp" }, docs: { transport: "stdio", command: "docs-mcp" } };

describe("npm run policy -- dry-run refuses bad files", () => {
  const dir = workDir();
  const refusal = async (args: string[], env: Record<string, string> = {}) => {
    const run = await policyCli(["dry-run", ...args], { cwd: dir, env });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    return run.stderr;
  };

  it("a candidate that is not JSON, or missing", async () => {
    const broken = jsonFile(dir, "broken.json", '{ "rules": [');
    expect(await refusal(["--candidate", broken])).toMatch(new RegExp(`^policy: ${broken}: not JSON \\(`));
    expect(await refusal(["--candidate", `${dir}/absent.json`])).toBe(`policy: ${dir}/absent.json: cannot read it (ENOENT)\n`);
  });

  it("a candidate that is neither a policy nor an origin configuration", async () => {
    const other = jsonFile(dir, "other.json", { edge: {} });
    expect(await refusal(["--candidate", other])).toBe(
      `policy: ${other}: expected a policy ({ "rules": [...] }) or an origin configuration file ({ "origin": { "policy": ... } })\n`,
    );
  });

  it("a rule the schema refuses, named by its key in a policy file and in a configuration file", async () => {
    const rules = [allowDocs, { effect: "permit", who: {}, servers: ["docs"] }];
    const policyFile = jsonFile(dir, "bad-rules.json", { rules });
    const stderr = await refusal(["--candidate", policyFile]);
    expect(stderr).toContain(`policy: ${policyFile}: rules.1.effect: Invalid option: expected one of "allow"|"deny"`);
    expect(stderr).toContain(
      `policy: ${policyFile}: rules.1.who: expected at least one of "groups", "domains", "emails", or "everyone": true`,
    );
    const configFile = jsonFile(dir, "bad-config.json", { origin: { servers, policy: { rules } } });
    expect(await refusal(["--candidate", configFile])).toContain(
      `policy: ${configFile}: origin.policy.rules.1.effect: Invalid option`,
    );
  });

  it("a configuration without a candidate policy", async () => {
    const configFile = jsonFile(dir, "no-policy.json", { origin: { servers } });
    expect(await refusal(["--candidate", configFile])).toBe(
      `policy: ${configFile}: origin.policy: expected the candidate policy here; it is missing\n`,
    );
  });

  it("a server pattern that matches no configured server, as the origin would refuse it at start", async () => {
    const configFile = jsonFile(dir, "typo.json", {
      origin: { servers, policy: { rules: [{ ...allowDocs, servers: ["githb"] }] } },
    });
    expect(await refusal(["--candidate", configFile])).toBe(
      `policy: ${configFile}: origin.policy.rules.0.servers.0: "githb" matches no configured server; expected one of: github, docs\n`,
    );
    // A policy file names no servers: the origin's configuration does.
    const policyFile = jsonFile(dir, "typo-rules.json", { rules: [{ ...allowDocs, servers: ["githb"] }] });
    const deployed = jsonFile(dir, "deployed.json", { origin: { servers } });
    expect(await refusal(["--candidate", policyFile], { MCP_PROXY_CONFIG: deployed })).toBe(
      `policy: ${policyFile}: rules.0.servers.0: "githb" matches no configured server; expected one of: github, docs\n`,
    );
  });

  it("a groups file whose keys are not e-mail addresses, and a bad current policy in the environment", async () => {
    const candidate = jsonFile(dir, "good.json", { rules: [allowDocs] });
    const groups = jsonFile(dir, "groups.json", { ada: ["engineering@example.com"] });
    expect(await refusal(["--candidate", candidate, "--groups", groups])).toContain(
      `policy: ${groups}: ada: expected a user's e-mail address as the key`,
    );
    expect(await refusal(["--candidate", candidate], { MCP_POLICY: '{"rules":[{"effect":"allow"}]}' })).toContain(
      "policy: environment MCP_POLICY: rules.0.who: ",
    );
  });

  it("bad arguments, with the usage", async () => {
    expect(await refusal([])).toContain("--candidate is required");
    const candidate = jsonFile(dir, "good.json", { rules: [allowDocs] });
    expect(await refusal(["--candidate", candidate, "--days", "0"])).toContain(
      '--days: expected a whole number of days from 1 to 3650; got "0"',
    );
    expect(await refusal(["--candidate", candidate, "--format", "csv"])).toContain(
      '--format: expected one of text, json; got "csv"',
    );
    expect(await refusal(["--candidate", candidate, "--since", "3"])).toContain("usage:");
  });
});
