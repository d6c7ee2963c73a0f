import { readFileSync } from "node:fs";
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
