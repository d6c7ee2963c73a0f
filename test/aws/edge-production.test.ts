import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
const CONFIG = join(ROOT, "wrangler.toml");
/** The parts of wrangler's resolved configuration this test reads (its own types do not resolve under this tsconfig). */
interface EdgeConfig {
  kv_namespaces: { binding: string }[];
  queues: {
    producers?: { binding: string; queue: string }[];
    consumers?: { queue: string; dead_letter_queue?: string; max_concurrency?: number }[];
  };
  durable_objects: { bindings: { name: string; class_name: string }[] };
  migrations: { new_sqlite_classes?: string[]; new_classes?: string[] }[];
  analytics_engine_datasets: { binding: string }[];
  ratelimits: { name: string }[];
  routes?: unknown[];
  workers_dev?: boolean;
  vars: Record<string, unknown>;
}
const readConfig = (env?: string) =>
  unstable_readConfig({ config: CONFIG, env }, { hideWarnings: true }) as unknown as EdgeConfig;

/** Startup time at the edge grows with the bundle: keep it at most this, compressed. */
const MAX_GZIPPED_BYTES = 1024 * 1024;

describe("the edge's production environment (wrangler.toml [env.production])", () => {
  const outdir = mkdtempSync(join(tmpdir(), "mcp-edge-bundle-"));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("bundles with `wrangler deploy --dry-run` within 1 MiB gzipped", { timeout: 120_000 }, async () => {
    const { stdout, stderr } = await run(WRANGLER, ["deploy", "--dry-run", "--outdir", outdir, "--env", "production"], {
      cwd: ROOT,
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
        WRANGLER_SEND_METRICS: "false",
      },
    });
    // Wrangler warns when a binding exists at the top level but not in the environment.
    expect(stderr).not.toMatch(/exists at the top level, but not on "env\.production"/);
    const reported = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(stdout);
    expect(reported, stdout).not.toBeNull();
    const gzipped = gzipSync(readFileSync(join(outdir, "index.js"))).length;
    console.log(
      `edge bundle (production): ${reported?.[1]} KiB, gzip ${reported?.[2]} KiB by wrangler; ${(gzipped / 1024).toFixed(1)} KiB gzipped here (limit ${MAX_GZIPPED_BYTES / 1024} KiB)`,
    );
    expect(Number(reported?.[2]) * 1024).toBeLessThanOrEqual(MAX_GZIPPED_BYTES);
    expect(gzipped).toBeLessThanOrEqual(MAX_GZIPPED_BYTES);
  });

  it("has every binding production needs, and no secret among its variables", () => {
    const production = readConfig("production");
    const topLevel = readConfig();

    expect(production.kv_namespaces.map((kv) => kv.binding)).toEqual(["OAUTH_KV"]);
    expect(production.queues.producers?.map((queue) => [queue.binding, queue.queue])).toEqual([["AUDIT_QUEUE", "mcp-audit"]]);
    expect(production.queues.consumers?.map((queue) => [queue.queue, queue.dead_letter_queue])).toEqual([
      ["mcp-audit", "mcp-audit-dead-letter"],
    ]);
    // A draining backlog posts at most this many batches at once: fewer than the origin's chains and connections.
    for (const consumer of production.queues.consumers ?? []) expect(consumer.max_concurrency).toBeLessThanOrEqual(4);
    // Every Durable Object the Worker binds at the top level is bound in production too, and has its migration.
    const objects = (config: EdgeConfig) => config.durable_objects.bindings.map((binding) => binding.name).sort();
    expect(
      objects(production),
      "a Durable Object bound at the top level of wrangler.toml must be bound in [env.production] too",
    ).toEqual(objects(topLevel));
    expect(objects(production)).toEqual(expect.arrayContaining(["MCP_SESSION", "ORIGIN_AFFINITY"]));
    const migrated = production.migrations.flatMap((migration) => [
      ...(migration.new_sqlite_classes ?? []),
      ...(migration.new_classes ?? []),
    ]);
    for (const binding of production.durable_objects.bindings) expect(migrated).toContain(binding.class_name);
    expect(production.analytics_engine_datasets.map((dataset) => dataset.binding)).toEqual(["ANALYTICS"]);
    expect(production.ratelimits.map((limit) => limit.name).sort()).toEqual([
      "RATE_LIMIT_CLIENT",
      "RATE_LIMIT_IP",
      "RATE_LIMIT_USER",
    ]);
    expect(production.routes).toEqual([expect.objectContaining({ custom_domain: true })]);
    expect(production.workers_dev).toBe(false);

    // Secrets go through `wrangler secret put`; the file names no value for them.
    const variables = Object.keys(production.vars);
    for (const secret of ["IDP_CLIENT_SECRET", "EDGE_SIGNING_KEY"]) expect(variables).not.toContain(secret);
    for (const name of variables) expect(name).not.toMatch(/SECRET|SIGNING_KEY|TOKEN|PASSWORD/);
    for (const required of ["PUBLIC_URL", "ORIGIN_URL", "IDP_ISSUER", "IDP_CLIENT_ID", "SERVER_NAMES"])
      expect(variables).toContain(required);
  });
});
