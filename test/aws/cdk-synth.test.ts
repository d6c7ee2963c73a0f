import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { Bucket } from "aws-cdk-lib/aws-s3";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { synthesizeExample } from "./synth.ts";

const run = promisify(execFile);
const CDK_DIR = new URL("../../aws/cdk/", import.meta.url).pathname;
const CDK_CLI = new URL("../../node_modules/.bin/cdk", import.meta.url).pathname;

describe("cdk synth of the AWS tier, offline, from the example configuration", () => {
  const output = mkdtempSync(join(tmpdir(), "mcp-cdk-cli-"));
  afterAll(() => rmSync(output, { recursive: true, force: true }));

  it("synthesizes both stacks with the real CLI, cdk-nag included, without AWS credentials", { timeout: 180_000 }, async () => {
    const started = performance.now();
    // This Node first on PATH: the app is TypeScript run by Node 24, whatever `node` the machine has.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_PROFILE: "",
      CDK_DISABLE_VERSION_CHECK: "1",
    };
    delete env.MCP_DEPLOY_CONFIG;
    const { stderr } = await run(CDK_CLI, ["synth", "--quiet", "--no-notices", "--output", output], { cwd: CDK_DIR, env });
    console.log(`cdk synth (CLI, both stacks, cdk-nag): ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(stderr).not.toMatch(/AwsSolutions-/);
    for (const stack of ["mcp-edge-proxy-data", "mcp-edge-proxy-service"]) {
      const template = JSON.parse(readFileSync(join(output, `${stack}.template.json`), "utf8"));
      expect(Object.keys(template.Resources).length).toBeGreaterThan(10);
    }
    // The origin's image is an asset built from the repository's Dockerfile at deploy time.
    const assets = JSON.parse(readFileSync(join(output, "mcp-edge-proxy-service.assets.json"), "utf8"));
    const images = Object.values(assets.dockerImages) as { source: { directory: string; dockerFile?: string } }[];
    expect(images).toHaveLength(1);
    expect(existsSync(join(output, images[0]?.source.directory ?? "", "Dockerfile"))).toBe(true);
  });

  it("refuses a credential written as a plain value in origin.servers, before writing any template", {
    timeout: 120_000,
  }, async () => {
    const config = JSON.parse(readFileSync(join(CDK_DIR, "deploy.config.example.json"), "utf8"));
    config.origin.servers.tickets = {
      transport: "http",
      url: "https://tickets.internal.example/mcp",
      identity: "none",
      headers: { "x-api-key": "sk-live-LITERAL-SECRET-123" },
    };
    const file = join(output, "literal.deploy.json");
    writeFileSync(file, JSON.stringify(config));
    const PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH}`;
    const env = { ...process.env, PATH, MCP_DEPLOY_CONFIG: file, CDK_DISABLE_VERSION_CHECK: "1" };
    const refused = run(CDK_CLI, ["synth", "--quiet", "--no-notices", "--output", join(output, "literal")], {
      cwd: CDK_DIR,
      env,
    });
    const failure = (await refused.then(
      () => ({ stderr: "", code: 0 }),
      (error) => error,
    )) as { stderr: string; code: number };
    expect(failure.code).not.toBe(0);
    expect(failure.stderr).toContain(
      'origin.servers.tickets.headers.x-api-key: server "tickets" has its header "x-api-key" as a plain value',
    );
    expect(failure.stderr).not.toContain("sk-live-LITERAL-SECRET-123");
    expect(existsSync(join(output, "literal", "mcp-edge-proxy-service.template.json"))).toBe(false);
  });

  it.each(["ec", "shared"] as const)(
    "passes cdk-nag's AwsSolutions checks, every exception acknowledged in code (edge key %s)",
    (edgeKey) => {
      const { data, service } = synthesizeExample((config) => {
        config.origin.edgeKey = edgeKey;
      });
      for (const stack of [data, service]) {
        const report = new AwsSolutionsChecks().validateScope(stack);
        expect(report.violations.map((violation) => violation.ruleName)).toEqual([]);
      }
    },
  );

  it("fails the nag check when an acknowledged finding reappears unacknowledged", () => {
    const { data } = synthesizeExample((config) => {
      config.origin.upstreamSecrets = [];
    });
    // A bucket without access logs and without a justification: cdk-nag must name it.
    new Bucket(data, "UnjustifiedBucket", { enforceSSL: true });
    const report = new AwsSolutionsChecks().validateScope(data);
    expect(report.violations.map((violation) => violation.ruleName)).toContain("AwsSolutions-S1");
  });
});
