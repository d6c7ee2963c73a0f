import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_NAME } from "../../aws/cdk/data/database.ts";
import { RDS_CA_BUNDLE } from "../../aws/cdk/service/origin-container.ts";
import { loadOriginConfig } from "../../aws/origin/config.ts";
import { createPool } from "../../aws/origin/db/pool.ts";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";
import { type TestDatabase, withTestDatabase } from "../origin/database.ts";
import { resourcesOf, synthesizeExample } from "./synth.ts";

type Container = {
  Environment: { Name: string; Value: unknown }[];
  Secrets: { Name: string; ValueFrom: unknown }[];
};

/**
 * How the task definition hands the origin its database: DATABASE_URL is the bare scheme, the facts are PG*
 * variables, the user name comes from the RDS-generated secret's JSON through ECS `secrets`, and the password is read
 * from that secret by the origin itself (DATABASE_PASSWORD_SECRET names it).
 * This reproduces what ECS does at task start (from the synthesized template) against a real PostgreSQL, and
 * checks that the origin's configuration and its `pg` pool accept that environment (with the password it would read).
 */
describe("database credentials by reference (the RDS secret's username as an ECS secret, the secret itself for the password)", () => {
  let db: TestDatabase;
  let container: Container;

  beforeAll(async () => {
    db = await withTestDatabase();
    const { serviceTemplate } = synthesizeExample();
    const [[, definition]] = resourcesOf(serviceTemplate, "AWS::ECS::TaskDefinition") as [
      [string, { ContainerDefinitions: Container[] }],
    ];
    container = definition.ContainerDefinitions.find(
      (each) => (each as Container & { Name: string }).Name === "origin",
    ) as Container;
  });
  afterAll(async () => {
    await db?.close();
  });

  /** The RDS secret's JSON field that ECS puts into this variable (`<secret arn>:<field>::`). */
  const secretField = (name: string): string | undefined => {
    const valueFrom = JSON.stringify(container.Secrets.find((secret) => secret.Name === name)?.ValueFrom ?? "");
    return /:([a-z]+)::"\]\]\}$/.exec(valueFrom)?.[1];
  };

  it("maps PGUSER to the username field of the origin role's secret, and names that secret for the password", () => {
    expect(secretField("PGUSER")).toBe("username");
    const databaseSecretImport = (value: unknown) => JSON.stringify(value).match(/DatabaseAppSecret\w*/)?.[0];
    const userSecret = databaseSecretImport(container.Secrets.find((secret) => secret.Name === "PGUSER")?.ValueFrom);
    expect(userSecret).toBeDefined();
    // The password is read by the origin's pool when it connects, from the secret named here (its ARN, not a field).
    const passwordSecret = container.Environment.find((variable) => variable.Name === "DATABASE_PASSWORD_SECRET")?.Value;
    expect(passwordSecret).toEqual({ "Fn::ImportValue": expect.stringMatching(/:ExportsOutputRefDatabaseAppSecret\w*$/) });
    expect(databaseSecretImport(passwordSecret)).toBe(userSecret);
    expect(container.Secrets.map((secret) => secret.Name)).not.toContain("PGPASSWORD");
    expect(JSON.stringify(container)).not.toContain("DatabaseInstanceSecret");
  });

  it("starts the origin's pool from that environment alone and reaches the database", async () => {
    const url = new URL(db.url);
    const environment = Object.fromEntries(container.Environment.map(({ Name, Value }) => [Name, Value]));
    expect(environment.DATABASE_URL).toBe("postgresql://");
    expect(environment.PGDATABASE).toBe(DATABASE_NAME);
    expect(environment.PGSSLMODE).toBe("verify-full");
    // The RDS CA bundle the image holds, trusted by the database pool alone (not NODE_EXTRA_CA_CERTS).
    expect(environment.PGSSLROOTCERT).toBe(RDS_CA_BUNDLE);
    // Its role may not migrate: the migrate init container did, and the origin only checks the schema is current.
    expect(environment.DATABASE_MIGRATE).toBe("verify");
    expect(JSON.stringify(environment.PGHOST)).toMatch(/DatabaseInstance\w*EndpointAddress/);
    expect(JSON.stringify(environment.PGPORT)).toMatch(/DatabaseInstance\w*EndpointPort/);
    expect(JSON.stringify(environment.AUDIT_CHECKPOINT_KMS_KEY_ID)).toMatch(/KeysAuditCheckpointKey\w*Arn/);
    expect(JSON.stringify(environment.UPSTREAM_VAULT_KMS_KEY_ID)).toMatch(/KeysUpstreamVaultKey\w*Arn/);

    // What ECS resolves at task start: references become values, secret fields come from the secret's JSON.
    const rdsSecret = {
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password) || "unused-by-the-test-server",
    };
    const resolved: Record<string, string> = {
      ...Object.fromEntries(Object.entries(environment).filter(([, value]) => typeof value === "string")),
      PGHOST: url.hostname,
      PGPORT: url.port || "5432",
      // The test server's own database; on AWS it is the one named above.
      PGDATABASE: url.pathname.slice(1),
      // The only deviation from production: the test server has no TLS (RDS requires it: rds.force_ssl).
      PGSSLMODE: "disable",
      PGUSER: rdsSecret[secretField("PGUSER") as keyof typeof rdsSecret],
      // Not from the stack: on AWS the pool reads the password from DATABASE_PASSWORD_SECRET as it connects (tested with
      // the origin's pool). Here the test server's own, in the variable `pg` reads, so that a server that checks it
      // admits the pool.
      PGPASSWORD: rdsSecret.password,
      // The data stack's KMS keys, by ARN.
      AUDIT_CHECKPOINT_KMS_KEY_ID: "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      UPSTREAM_VAULT_KMS_KEY_ID: "arn:aws:kms:eu-west-1:111111111111:key/5678abcd-12ab-34cd-56ef-1234567890ab",
      REQUEST_STATE_KEY: randomBytes(32).toString("base64url"),
      UPSTREAM_IDENTITY_SIGNING_KEY: await generateEdgeSigningKey(),
    };
    for (const variable of Object.keys(resolved)) expect(typeof resolved[variable]).toBe("string");

    const saved = { ...process.env };
    Object.assign(process.env, resolved);
    delete process.env.MCP_PROXY_CONFIG;
    try {
      // The origin accepts this configuration (it refuses to start without a database URL). An empty file section
      // stands for the container, which has no configuration file, whatever this working directory holds.
      const emptyFile = join(mkdtempSync(join(tmpdir(), "mcp-origin-config-")), "proxy.config.json");
      writeFileSync(emptyFile, JSON.stringify({ origin: {} }));
      const config = loadOriginConfig({ ...resolved, MCP_PROXY_CONFIG: emptyFile });
      expect(config.databaseUrl).toBe("postgresql://");
      const pool = createPool(config.databaseUrl as string, { max: db.poolMax });
      try {
        const { rows } = await pool.query<{ user: string; database: string }>(
          "select current_user as user, current_database() as database",
        );
        expect(rows[0]).toEqual({ user: resolved.PGUSER, database: resolved.PGDATABASE });
      } finally {
        await pool.end();
      }
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});
