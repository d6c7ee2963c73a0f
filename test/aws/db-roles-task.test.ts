import { existsSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_APP_USER, DATABASE_USER } from "../../aws/cdk/data/database.ts";
import { RDS_CA_BUNDLE } from "../../aws/cdk/service/origin-container.ts";
import { DEFAULT_APP_ROLE } from "../../aws/origin/db/roles.ts";
import { resourcesOf, type Synthesized, synthesizeExample } from "./synth.ts";

type Container = {
  Name: string;
  Essential?: boolean;
  Command?: string[];
  User?: string;
  ReadonlyRootFilesystem?: boolean;
  DependsOn?: { ContainerName: string; Condition: string }[];
  LinuxParameters?: { Capabilities?: { Drop?: string[] } };
  Environment?: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
  LogConfiguration?: { Options?: Record<string, unknown> };
};
type Statement = { Effect: string; Action: string | string[]; Resource?: unknown };

const ROOT = new URL("../../", import.meta.url).pathname;
const MASTER_SECRET = /DatabaseInstanceSecretAttachment/;
const APP_SECRET = /DatabaseAppSecretAttachment/;

function containers(synth: Synthesized): Map<string, Container> {
  const [[, task] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
  return new Map(((task?.ContainerDefinitions ?? []) as Container[]).map((container) => [container.Name, container]));
}

/** The secret a container's variable comes from (the data stack's export it imports) and which of its fields. */
const secretOf = (container: Container | undefined, name: string): string =>
  JSON.stringify(container?.Secrets?.find((secret) => secret.Name === name)?.ValueFrom ?? null);

const environmentOf = (container: Container | undefined) =>
  Object.fromEntries((container?.Environment ?? []).map(({ Name, Value }) => [Name, Value]));

/** Every statement of every policy attached to the role with this logical id. */
function statementsOfRole(synth: Synthesized, roleId: string): Statement[] {
  const inline = (
    (synth.serviceTemplate.toJSON().Resources[roleId]?.Properties?.Policies ?? []) as {
      PolicyDocument: { Statement: Statement[] };
    }[]
  ).map((policy) => policy.PolicyDocument);
  const attached = resourcesOf(synth.serviceTemplate, "AWS::IAM::Policy")
    .filter(([, policy]) => JSON.stringify(policy.Roles).includes(`"${roleId}"`))
    .map(([, policy]) => policy.PolicyDocument as { Statement: Statement[] });
  return [...inline, ...attached].flatMap((document) => document.Statement);
}

describe("least privilege in the database: the migrate init container and the origin's own role", () => {
  let synth: Synthesized;
  let byName: Map<string, Container>;
  beforeAll(() => {
    synth = synthesizeExample();
    byName = containers(synth);
  });

  it("runs the migration command first, in a non-essential container of the same image, without privileges", () => {
    const migrate = byName.get("migrate");
    expect(migrate, "the migrate init container").toBeDefined();
    expect(migrate).toMatchObject({
      Essential: false,
      Command: ["node", "aws/origin/db/migrate-cli.ts"],
      User: "node",
      ReadonlyRootFilesystem: true,
      LinuxParameters: { Capabilities: { Drop: ["ALL"] } },
      LogConfiguration: { Options: expect.objectContaining({ "awslogs-stream-prefix": "migrate" }) },
    });
    expect(JSON.stringify((migrate as unknown as { Image: unknown }).Image)).toBe(
      JSON.stringify((byName.get("origin") as unknown as { Image: unknown }).Image),
    );
    // The command is in the image (the Dockerfile copies aws/origin, which .dockerignore lets through).
    expect(existsSync(`${ROOT}aws/origin/db/migrate-cli.ts`)).toBe(true);
    expect(readFileSync(`${ROOT}Dockerfile`, "utf8")).toMatch(/^COPY aws\/origin \.\/aws\/origin$/m);
    expect(readFileSync(`${ROOT}.dockerignore`, "utf8")).toMatch(/^!aws\/origin$/m);
  });

  it("starts the origin only once the migrate container exited successfully", () => {
    expect(byName.get("origin")?.DependsOn).toEqual([{ ContainerName: "migrate", Condition: "SUCCESS" }]);
    expect(byName.get("origin")?.Essential).toBe(true);
  });

  it("gives the migrate container the master user's login and the origin role's name and password", () => {
    const migrate = byName.get("migrate");
    expect(secretOf(migrate, "PGUSER")).toMatch(MASTER_SECRET);
    expect(secretOf(migrate, "PGUSER")).toContain(":username::");
    expect(secretOf(migrate, "PGPASSWORD")).toMatch(MASTER_SECRET);
    expect(secretOf(migrate, "PGPASSWORD")).toContain(":password::");
    expect(secretOf(migrate, "DATABASE_APP_USER")).toMatch(APP_SECRET);
    expect(secretOf(migrate, "DATABASE_APP_USER")).toContain(":username::");
    expect(secretOf(migrate, "DATABASE_APP_PASSWORD")).toMatch(APP_SECRET);
    expect(secretOf(migrate, "DATABASE_APP_PASSWORD")).toContain(":password::");
    const environment = environmentOf(migrate);
    expect(environment).toMatchObject({
      DATABASE_URL: "postgresql://",
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: RDS_CA_BUNDLE,
      PGDATABASE: "mcp_edge_proxy",
    });
    // Unset retention: the command then lets the origin's role purge nothing.
    expect(environment.AUDIT_RETENTION_DAYS).toBeUndefined();
  });

  it("gives the origin container the origin role's login only, and has it verify the schema instead of migrating", () => {
    const origin = byName.get("origin");
    expect(secretOf(origin, "PGUSER")).toMatch(APP_SECRET);
    expect(secretOf(origin, "PGUSER")).toContain(":username::");
    // The password is no ECS secret (fixed at task start, wrong after a rotation): the pool reads it from the secret.
    expect(origin?.Secrets?.map((secret) => secret.Name)).not.toContain("PGPASSWORD");
    expect(environmentOf(origin)).not.toHaveProperty("PGPASSWORD");
    expect(environmentOf(origin).DATABASE_PASSWORD_SECRET).toEqual({ "Fn::ImportValue": expect.stringMatching(APP_SECRET) });
    expect(JSON.stringify(origin)).not.toMatch(MASTER_SECRET);
    expect(environmentOf(origin).DATABASE_MIGRATE).toBe("verify");
  });

  it("lets the task role read the origin role's secret alone, GetSecretValue only; the master's only the execution role", () => {
    const [[, task] = []] = resourcesOf(synth.serviceTemplate, "AWS::ECS::TaskDefinition");
    const roleId = (arn: unknown) => (arn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
    const taskRole = statementsOfRole(synth, roleId(task?.TaskRoleArn));
    const executionRole = statementsOfRole(synth, roleId(task?.ExecutionRoleArn));
    expect(taskRole.length).toBeGreaterThan(0);
    expect(JSON.stringify(taskRole)).not.toMatch(MASTER_SECRET);
    // The origin's pool reads the password's stages (AWSCURRENT, AWSPENDING, AWSPREVIOUS) as it connects: exactly the
    // secret the container is told of, by its ARN, and nothing else (no DescribeSecret, no condition to widen).
    const database = taskRole.filter((statement) => /Database/.test(JSON.stringify(statement.Resource)));
    expect(database).toEqual([
      {
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: environmentOf(byName.get("origin")).DATABASE_PASSWORD_SECRET,
      },
    ]);
    // Nothing broader either: every secretsmanager statement of the task role names its resources (no *, no prefix).
    for (const statement of taskRole.filter((s) => JSON.stringify(s.Action).includes("secretsmanager:"))) {
      expect(JSON.stringify(statement.Resource)).not.toMatch(/\*/);
    }
    const reads = (pattern: RegExp) =>
      executionRole.some(
        (statement) =>
          [statement.Action].flat().includes("secretsmanager:GetSecretValue") && pattern.test(JSON.stringify(statement.Resource)),
      );
    // The migrate container's: the master login, and the origin role's name and password it sets at each start.
    expect(reads(MASTER_SECRET)).toBe(true);
    expect(reads(APP_SECRET)).toBe(true);
  });

  it("keeps the origin role's password in a secret of its own, rotated, not at once (the role is made at the first task)", () => {
    expect(DATABASE_APP_USER).toBe(DEFAULT_APP_ROLE);
    expect(DATABASE_APP_USER).not.toBe(DATABASE_USER);
    const [[, appSecret] = []] = resourcesOf(synth.dataTemplate, "AWS::SecretsManager::Secret").filter(
      ([, secret]) => secret.Name === `${synth.config.name}/database-app`,
    );
    expect(appSecret?.GenerateSecretString).toMatchObject({
      GenerateStringKey: "password",
      SecretStringTemplate: JSON.stringify({ username: DATABASE_APP_USER, dbname: "mcp_edge_proxy" }),
    });
    const schedules = resourcesOf(synth.dataTemplate, "AWS::SecretsManager::RotationSchedule");
    const appRotation = schedules.find(([, schedule]) => APP_SECRET.test(JSON.stringify(schedule.SecretId)));
    expect(appRotation?.[1]).toMatchObject({
      RotateImmediatelyOnUpdate: false,
      RotationRules: { ScheduleExpression: "cron(0 4 ? * SUN#1 *)", Duration: "2h" },
    });
    expect(schedules.some(([, schedule]) => MASTER_SECRET.test(JSON.stringify(schedule.SecretId)))).toBe(true);
  });
});

describe("a deployment that keeps audit events a limited time (origin.auditRetentionDays)", () => {
  it("gives the retention to the origin and to the migrate container, which makes it the youngest purgeable age", () => {
    const byName = containers(
      synthesizeExample((config) => {
        config.origin.auditRetentionDays = 400;
      }),
    );
    expect(environmentOf(byName.get("origin")).AUDIT_RETENTION_DAYS).toBe("400");
    expect(environmentOf(byName.get("migrate")).AUDIT_RETENTION_DAYS).toBe("400");
  });
});
