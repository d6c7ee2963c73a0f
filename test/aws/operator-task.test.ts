import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jqMissingHere } from "./jq.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

// The database is private and admits only the origin's tasks, so the operators' commands run as a one-off task of the
// origin's task definition (docs/operations.md). An operator copies that section into a shell during an incident: its
// commands are run here as written, with `aws` standing in for AWS, and what they would ask ECS to run must exist.

const ROOT = new URL("../../", import.meta.url).pathname;
const operations = readFileSync(join(ROOT, "docs/operations.md"), "utf8");
const HEADING = "## Running the operators' commands against the deployed database";
const section = operations.slice(operations.indexOf(HEADING));
const script = [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map(([, body]) => body).join("\n");

const TASK_ID = "0123456789abcdef0123456789abcdef";

/**
 * `aws` as the section calls it: stack outputs answer `out-<key>`, run-task records its arguments and answers a task
 * ARN, the logs answer one event; every call is recorded, one JSON array of arguments a line.
 */
const STUB = `
aws() {
  jq -nc --args '$ARGS.positional' -- "$@" >> "$STUB/aws.log"
  case "$1 $2" in
    "cloudformation describe-stacks")
      for arg in "$@"; do case $arg in *"OutputKey=='"*) key=\${arg#*OutputKey==\\'}; echo "out-\${key%%\\'*}" ;; esac; done ;;
    "ecs run-task") echo "arn:aws:ecs:eu-west-1:111111111111:task/out-OriginClusterName/${TASK_ID}" ;;
    "logs filter-log-events") echo '{"events":[{"message":"what the command printed"}]}' ;;
    "ecs describe-tasks") printf 'migrate\\t0\\tNone\\norigin\\t0\\tNone\\n' ;;
    "kms get-public-key") echo "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" ;;
  esac
}
`;

type Override = { name: string; command?: string[]; environment?: { name: string; value: string }[] };

describe("docs/operations.md: running the operators' commands against the deployed database", () => {
  let synth: Synthesized;
  let outputs: Record<string, { Value: unknown }>;
  let calls: string[][];
  let dir: string;
  beforeAll(() => {
    synth = synthesizeExample();
    outputs = synth.serviceTemplate.toJSON().Outputs;
    dir = mkdtempSync(join(tmpdir(), "operator-task-"));
    if (jqMissingHere) return;
    writeFileSync(join(dir, "candidate.json"), '{"rules":[]}\n');
    execFileSync("bash", ["-c", `${STUB}\n${script}`], {
      cwd: dir,
      env: { ...process.env, STUB: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    calls = readFileSync(join(dir, "aws.log"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string[]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const option = (call: string[], name: string) => call[call.indexOf(name) + 1];
  const runTasks = () => calls.filter((call) => call[0] === "ecs" && call[1] === "run-task");
  const overridesOf = (call: string[]) =>
    (JSON.parse(String(option(call, "--overrides"))) as { containerOverrides: Override[] }).containerOverrides;

  it("names outputs the service stack has: the task definition, subnets and security group of the service", () => {
    const named = [...section.matchAll(/\$\(output (\w+)\)/g)].map(([, key]) => String(key));
    expect(named.sort()).toEqual(
      [
        "OriginClusterName",
        "OriginLogGroup",
        "OriginTaskDefinitionFamily",
        "OriginTaskSecurityGroup",
        "OriginTaskSubnets",
      ].sort(),
    );
    for (const key of named) expect(outputs[key], key).toBeDefined();
    // The values are the service's own: its task definition's family, the subnets and group its tasks run in.
    const [[, task] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    const [[, service] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::Service");
    type Network = { AwsvpcConfiguration: { Subnets: unknown[]; SecurityGroups: unknown[] } };
    const network = (service as { NetworkConfiguration: Network }).NetworkConfiguration.AwsvpcConfiguration;
    expect(outputs.OriginTaskDefinitionFamily?.Value).toBe(task?.Family);
    expect(outputs.OriginTaskSubnets?.Value).toEqual({ "Fn::Join": [",", network.Subnets] });
    expect(network.Subnets.length).toBeGreaterThanOrEqual(2);
    expect([outputs.OriginTaskSecurityGroup?.Value]).toEqual(network.SecurityGroups);
    // That group is the one the database admits.
    const admitted = resourcesOf(synth.serviceTemplate, "AWS::EC2::SecurityGroupIngress").map(([, rule]) => rule);
    expect(admitted).toContainEqual(
      expect.objectContaining({ SourceSecurityGroupId: outputs.OriginTaskSecurityGroup?.Value, FromPort: 5432 }),
    );
  });

  it.skipIf(jqMissingHere)("starts each task in the service's cluster, subnets and group, and reads its containers' logs", () => {
    const tasks = runTasks();
    expect(tasks.length).toBeGreaterThanOrEqual(10);
    for (const call of tasks) {
      expect(option(call, "--cluster")).toBe("out-OriginClusterName");
      expect(option(call, "--task-definition")).toBe("out-OriginTaskDefinitionFamily");
      expect(option(call, "--launch-type")).toBe("FARGATE");
      expect(option(call, "--network-configuration")).toBe(
        "awsvpcConfiguration={subnets=[out-OriginTaskSubnets],securityGroups=[out-OriginTaskSecurityGroup],assignPublicIp=DISABLED}",
      );
    }
    // The log streams are the awslogs driver's: <prefix>/<container>/<task id>, with the prefixes the stack sets.
    const [[, task] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    const containers = task?.ContainerDefinitions as { Name: string; LogConfiguration: { Options: Record<string, string> } }[];
    const streams = containers.map(
      (container) => `${container.LogConfiguration.Options["awslogs-stream-prefix"]}/${container.Name}/${TASK_ID}`,
    );
    for (const call of calls.filter((call) => call[0] === "logs")) {
      expect(option(call, "--log-group-name")).toBe("out-OriginLogGroup");
      expect(call.slice(call.indexOf("--log-stream-names") + 1, call.indexOf("--log-stream-names") + 3).sort()).toEqual(
        streams.sort(),
      );
    }
  });

  it.skipIf(jqMissingHere)("overrides only containers the task has, with commands whose files are in the image", () => {
    const [[, task] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    const names = (task as { ContainerDefinitions: { Name: string }[] }).ContainerDefinitions.map((container) => container.Name);
    const commands = runTasks().flatMap(overridesOf);
    for (const override of commands) expect(names).toContain(override.name);
    // Every `node <file>`, directly or in `sh -c`, names a file the Dockerfile copies (aws/origin/…).
    const files = commands.flatMap((override) =>
      [...(override.command ?? []).join(" ").matchAll(/\bnode (aws\/\S+\.ts)/g)].map(([, file]) => String(file)),
    );
    expect(new Set(files)).toEqual(
      new Set([
        "aws/origin/pinning/cli.ts",
        "aws/origin/audit/cli.ts",
        "aws/origin/vault/cli.ts",
        "aws/origin/policy/cli.ts",
        "aws/origin/db/migrate-cli.ts",
      ]),
    );
    for (const file of files) expect(existsSync(join(ROOT, file)), file).toBe(true);
    // The files a command reads arrive as variables the container writes out first.
    const policy = commands.find((override) => override.command?.join(" ").includes("policy/cli.ts"));
    expect(policy?.environment).toEqual([{ name: "CANDIDATE", value: '{"rules":[]}\n' }]);
  });

  it.skipIf(jqMissingHere)(
    "runs SQL as the master user only in the migrate container, and purges in the task that lowered the floor",
    () => {
      const tasks = runTasks().map(overridesOf);
      const sql = tasks.filter((overrides) => overrides.some((override) => override.environment?.some((e) => e.name === "SQL")));
      expect(sql.length).toBeGreaterThanOrEqual(3);
      for (const overrides of sql) {
        expect(overrides.find((override) => override.environment?.some((e) => e.name === "SQL"))?.name).toBe("migrate");
      }
      const purge = sql.find((overrides) =>
        overrides.some((override) => override.environment?.[0]?.value === "UPDATE audit_purge_policy SET min_age_days = 30"),
      );
      expect(purge?.find((override) => override.name === "origin")?.command).toEqual([
        "node",
        "aws/origin/audit/cli.ts",
        "purge",
        "--older-than-days",
        "30",
      ]);
    },
  );

  it.skipIf(jqMissingHere)("runs the master user's statement with pg, from the image's working directory", () => {
    const [master] = runTasks()
      .flatMap(overridesOf)
      .filter(
        (override) =>
          override.name === "migrate" && override.command?.[0] === "node" && override.command[1] === "--input-type=module",
      );
    const command = master?.command ?? [];
    expect(command.slice(0, 3)).toEqual(["node", "--input-type=module", "-e"]);
    // The repository root stands for /app: `pg` resolves from there. Nothing listens on port 1: the statement is parsed,
    // pg loads, reads the PG* settings and tries to connect.
    const run = spawnSync(process.execPath, command.slice(1), {
      cwd: ROOT,
      env: { ...process.env, PGHOST: "127.0.0.1", PGPORT: "1", PGUSER: "mcp_origin", PGDATABASE: "x", SQL: "SELECT 1" },
      encoding: "utf8",
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("ECONNREFUSED 127.0.0.1:1");
    // It trusts the RDS CA the way the origin's pool does (PGSSLROOTCERT), as nothing else in the process trusts it.
    const withCa = spawnSync(process.execPath, command.slice(1), {
      cwd: ROOT,
      env: { ...process.env, PGHOST: "127.0.0.1", PGPORT: "1", PGSSLMODE: "verify-full", PGSSLROOTCERT: "/nonexistent/ca.pem" },
      encoding: "utf8",
    });
    expect(withCa.stderr).toContain("PGSSLROOTCERT names /nonexistent/ca.pem");
  });
});
