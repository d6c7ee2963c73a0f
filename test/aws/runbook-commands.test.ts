import { readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { DeployConfig } from "../../aws/cdk/config/deploy-config.ts";
import { type Synthesized, synthesizeExample } from "./synth.ts";

// The runbooks' commands are copied into a shell during an incident: the outputs and keys they name must exist.

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");
const RUNBOOKS = { "deploy.md": doc("deploy.md"), "operations.md": doc("operations.md") };

describe("the commands in deploy.md and operations.md", () => {
  let outputs: Set<string>;
  beforeAll(() => {
    const synth: Synthesized = synthesizeExample();
    outputs = new Set(
      [synth.serviceTemplate, synth.dataTemplate].flatMap((template) => Object.keys(template.toJSON().Outputs ?? {})),
    );
  });

  it.each(Object.entries(RUNBOOKS))("name only stack outputs that exist (%s)", (_, text) => {
    const named = [...text.matchAll(/<(\w+) output>|OutputKey=='(\w+)'/g)].map(([, placeholder, key]) => placeholder ?? key);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((name) => !outputs.has(String(name)))).toEqual([]);
  });

  it.each(Object.entries(RUNBOOKS))("redeploy the origin with the cluster and the service by name (%s)", (_, text) => {
    const redeploys = [...text.matchAll(/aws ecs update-service[^`\n]*/g)].map(([command]) => command);
    expect(redeploys.length).toBeGreaterThan(0);
    for (const command of redeploys)
      expect(command).toBe(
        "aws ecs update-service --cluster <OriginClusterName output> --service <OriginServiceName output> --force-new-deployment",
      );
    for (const [command] of text.matchAll(/aws ecs describe-services \S+ \S+/g))
      expect(command).toBe("aws ecs describe-services <OriginService output>");
  });

  it.each(Object.entries(RUNBOOKS))("name only keys the deployment configuration has (%s)", (_, text) => {
    // `origin.…` and `database.…` in backquotes, host names (origin.mcp.example.com) aside.
    const keys = [...text.matchAll(/`((?:origin|database)\.[A-Za-z.]+)`/g)]
      .map(([, key]) => String(key))
      .filter((key) => !/\.example\.|\.com$/.test(key));
    expect(keys.length).toBeGreaterThan(0);
    const sections: Record<string, object> = {
      origin: DeployConfig.shape.origin.shape,
      database: DeployConfig.shape.database.unwrap().shape,
    };
    const missing = keys.filter((key) => {
      const [section = "", field = ""] = key.split(".");
      return !(field in (sections[section] ?? {}));
    });
    expect(missing).toEqual([]);
  });

  it("send no one to a log group name the stack does not use", () => {
    expect(RUNBOOKS["operations.md"]).not.toContain("/ecs/");
  });
});

/** Every Markdown file under docs/, by its path there. */
const ALL_DOCS = readdirSync(new URL("../../docs/", import.meta.url), { recursive: true, encoding: "utf8" })
  .filter((name) => name.endsWith(".md"))
  .map((name) => [name, doc(name)] as const);

/**
 * The stack outputs a document names: `<X output>` placeholders, `OutputKey=='X'` queries, "stack output `X`",
 * "`X` output", and the Workload Identity outputs (`GoogleWif…`), which google-workspace.md lists by key.
 */
function outputsNamed(text: string): string[] {
  const patterns = [
    /<(\w+) output>/g,
    /OutputKey=='(\w+)'/g,
    /stack outputs?\s+`(\w+)`/g,
    /`(\w+)`\s+output\b/g,
    /`(GoogleWif\w+)`/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map(([, name]) => String(name)));
}

describe("the stack outputs the documents name", () => {
  let outputs: Set<string>;
  beforeAll(() => {
    const synth: Synthesized = synthesizeExample();
    outputs = new Set(
      [synth.serviceTemplate, synth.dataTemplate].flatMap((template) => Object.keys(template.toJSON().Outputs ?? {})),
    );
  });

  it("exist in the synthesized stacks under exactly those keys", () => {
    const named = ALL_DOCS.flatMap(([name, text]) => outputsNamed(text).map((output) => `${name}: ${output}`));
    // The ones a reader is sent to outside the runbooks' placeholders (deploy.md's KMS keys, google-workspace.md).
    for (const expected of ["deploy.md: GoogleWifAwsRoleArn", "google-workspace.md: GoogleWifPrincipalSetSuffix"])
      expect(named).toContain(expected);
    expect(named.filter((entry) => !outputs.has(entry.slice(entry.indexOf(": ") + 2)))).toEqual([]);
  });

  it("match at least one output where a query filters them by part of their key", () => {
    const filters = ALL_DOCS.flatMap(([, text]) => [...text.matchAll(/contains\(OutputKey, '(\w+)'\)/g)].map(([, part]) => part));
    expect(filters.length).toBeGreaterThan(0);
    for (const part of filters)
      expect(
        [...outputs].some((key) => key.includes(String(part))),
        part,
      ).toBe(true);
  });
});

/**
 * `npm run cdk -- <verb> <stack> …` in the documents, each with the stack's part after `<name>-` (`<name>-service`,
 * `$NAME-data`, `mcp-edge-proxy-service`).
 */
function cdkCommandsIn(text: string): { command: string; stack: string }[] {
  return [...text.matchAll(/npm run cdk -- (?:deploy|destroy|diff|import)\b[^`\n]*/g)].flatMap(([command]) => {
    const stack = /(?:<name>|\$NAME|mcp-edge-proxy)-(\w+)/.exec(command)?.[1];
    return stack ? [{ command, stack }] : [];
  });
}

describe("the CDK commands the documents give", () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesizeExample();
  });

  it("name stacks the app has", () => {
    const stacks = new Set([synth.data.stackName, synth.service.stackName]);
    const commands = ALL_DOCS.flatMap(([, text]) => cdkCommandsIn(text));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter(({ stack }) => !stacks.has(`${synth.config.name}-${stack}`))).toEqual([]);
  });

  it("deploy the service stack alone when they name it, since CDK would deploy the data stack it depends on too", () => {
    expect(synth.service.dependencies).toContain(synth.data);
    const serviceDeploys = ALL_DOCS.flatMap(([, text]) => cdkCommandsIn(text)).filter(
      ({ command, stack }) => command.startsWith("npm run cdk -- deploy") && stack === "service",
    );
    expect(serviceDeploys.length).toBeGreaterThan(0);
    for (const { command } of serviceDeploys) expect(command).toMatch(/ --exclusively\b| -e\b/);
  });

  it("roll the origin back by its service stack alone, never by deploying every stack (deploy.md)", () => {
    const rollback = RUNBOOKS["deploy.md"].split("**Rollback.**")[1]?.split("*If the data stack was rolled back")[0] ?? "";
    expect(rollback).toContain("```sh\nnpm run cdk -- deploy <name>-service --exclusively\n```");
    expect(rollback).not.toMatch(/check out the previous release and `npm run cdk:deploy`/);
  });
});

describe("the edge's secrets in deploy.md, for both kinds of edge key (origin.edgeKey)", () => {
  const deploy = RUNBOOKS["deploy.md"];
  const stepSix = deploy.slice(deploy.indexOf("## 6. The edge"), deploy.indexOf("## 7. "));
  const blocks = [...stepSix.matchAll(/```sh\n([\s\S]*?)```/g)].map(([, block]) => String(block));

  it("puts EDGE_SIGNING_KEY in one block per kind: keygen's EC key for ec, the generated shared key for shared", () => {
    const signing = blocks.filter((block) => block.includes("secret put EDGE_SIGNING_KEY"));
    // A block run whole with a shared key must not overwrite it with an EC key (the origin would refuse everything).
    expect(signing).toHaveLength(2);
    const [ec, shared] = signing;
    expect(ec).toMatch(/^# "ec" \(the default\)/);
    expect(ec).toContain("npm run keygen --silent | npx wrangler secret put EDGE_SIGNING_KEY");
    expect(shared).toMatch(/^# "shared"/);
    expect(shared).toContain("--secret-id <name>/origin/edge-shared-key");
    expect(shared).not.toContain("keygen --silent |");
  });

  it("puts ANALYTICS_HASH_SECRET, required with a shared key, and lists it in step 3's table", () => {
    expect(stepSix).toContain("openssl rand -base64 32 | npx wrangler secret put ANALYTICS_HASH_SECRET --env production");
    expect(deploy).toMatch(/^\| `ANALYTICS_HASH_SECRET` \| Worker secret \| .*Required with `edgeKey: "shared"`/m);
  });
});
