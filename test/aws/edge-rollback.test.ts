import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

// docs/deploy.md, "Rollback": going back past a Durable Object migration means deploying the previous release's code
// with this release's migrations, bindings and added classes. This prepares that for the last release before a
// migration, with scripts/prepare-edge-rollback.ts, and has wrangler bundle it (`--dry-run` needs no account).

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
const ENV = {
  ...process.env,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}`,
  WRANGLER_SEND_METRICS: "false",
};
const git = (...args: string[]) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).trim();
const tags = (toml: string) => [...toml.matchAll(/^\[\[migrations\]\]\s*\ntag\s*=\s*"([^"]+)"/gm)].map(([, tag]) => tag);
const migrationTags = (config: string) =>
  (unstable_readConfig({ config }, { hideWarnings: true }) as unknown as { migrations: { tag: string }[] }).migrations.map(
    (migration) => migration.tag,
  );

/** The newest commit whose wrangler.toml has a migration its parent's lacks: the release before it is the one to go back to. */
function lastMigrationCommit(): string {
  for (const commit of git("log", "--format=%H", "--", "wrangler.toml").split("\n")) {
    const parent = (() => {
      try {
        return git("show", `${commit}^:wrangler.toml`);
      } catch {
        return "";
      }
    })();
    if (tags(git("show", `${commit}:wrangler.toml`)).length > tags(parent).length) return commit;
  }
  throw new Error("no commit of wrangler.toml adds a migration");
}

/** The test needs the repository's history (a shallow clone or an export has not got it). */
const withHistory = (() => {
  try {
    return git("rev-parse", "--is-shallow-repository") === "false";
  } catch {
    return false;
  }
})();

describe.skipIf(!withHistory)("rolling the edge back past a Durable Object migration (scripts/prepare-edge-rollback.ts)", () => {
  const scratch = mkdtempSync(join(tmpdir(), "mcp-edge-rollback-"));
  const worktree = join(scratch, "previous");
  let previous = "";
  let prepared = "";

  beforeAll(async () => {
    previous = git("rev-parse", `${lastMigrationCommit()}^`);
    const { stdout } = await run(process.execPath, [join(ROOT, "scripts/prepare-edge-rollback.ts"), previous, worktree], {
      cwd: ROOT,
      env: ENV,
    });
    prepared = stdout;
    // The previous release's own dependencies would come from `npm ci` there; this one's are close enough to bundle.
    symlinkSync(join(ROOT, "node_modules"), join(worktree, "node_modules"));
  }, 60_000);
  afterAll(() => {
    try {
      rmSync(join(worktree, "node_modules"), { force: true });
      git("worktree", "remove", "--force", worktree);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  const dryRun = () =>
    run(WRANGLER, ["deploy", "--dry-run", "--outdir", join(scratch, "bundle"), "--env", "production"], {
      cwd: worktree,
      env: ENV,
    });

  it("gives the previous release this release's migrations, and its bundle binds every class", { timeout: 120_000 }, async () => {
    expect(prepared).toContain(`Prepared ${worktree}`);
    expect(git("-C", worktree, "rev-parse", "HEAD")).toBe(previous);
    expect(migrationTags(join(worktree, "wrangler.toml"))).toEqual(migrationTags(join(ROOT, "wrangler.toml")));
    const { stdout } = await dryRun();
    const bound = [...stdout.matchAll(/env\.\w+ \((\w+)\)\s+Durable Object/g)].map(([, className]) => className);
    const production = unstable_readConfig(
      { config: join(ROOT, "wrangler.toml"), env: "production" },
      { hideWarnings: true },
    ) as unknown as {
      durable_objects: { bindings: { class_name: string }[] };
    };
    expect(bound.sort()).toEqual(production.durable_objects.bindings.map((binding) => binding.class_name).sort());
    expect(stdout).toContain("--dry-run: exiting now.");
  });

  it("is needed: without the added classes exported, wrangler refuses the bindings", { timeout: 120_000 }, async () => {
    const entry = join(worktree, "worker/index.ts");
    const withExports = readFileSync(entry, "utf8");
    writeFileSync(entry, withExports.replace(/\n\/\/ Classes added since this release[\s\S]*$/, "\n"));
    try {
      await expect(dryRun()).rejects.toThrow(/not exported in your entrypoint/);
    } finally {
      writeFileSync(entry, withExports);
    }
  });
});
