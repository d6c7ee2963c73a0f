import { execFileSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { experimental_readRawConfig } from "wrangler";

/**
 * `npx node scripts/prepare-edge-rollback.ts <previous release> <directory>`: a git worktree of the previous release that
 * can be deployed over this one although this one added Durable Object classes (docs/deploy.md, "Rollback").
 *
 * Cloudflare refuses `wrangler rollback` across a migration, refuses a script that stops exporting a class whose
 * objects exist, and wrangler refuses a binding to a class the entry point does not export. So the worktree gets this
 * release's `[[migrations]]`, the bindings of the classes added since, and those classes (this release's code, since
 * their objects' alarms still run) exported from its entry point. Its own code never uses them.
 */

interface Migration {
  tag: string;
  new_classes?: string[];
  new_sqlite_classes?: string[];
  [other: string]: unknown;
}
interface Binding {
  name: string;
  class_name: string;
  [other: string]: unknown;
}
interface RawConfig {
  main?: string;
  migrations?: Migration[];
  durable_objects?: { bindings?: Binding[] };
  env?: Record<string, { durable_objects?: { bindings?: Binding[] } }>;
}

const ROOT = resolve(new URL("../", import.meta.url).pathname);
const ADDING_ONLY = new Set(["tag", "new_classes", "new_sqlite_classes"]);

function readRaw(path: string): RawConfig {
  return (experimental_readRawConfig({ config: path }) as { rawConfig: RawConfig }).rawConfig;
}

function git(...args: string[]): string {
  return execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The previous release's wrangler.toml, read without a worktree (so nothing is made when no migration came since). */
function previousConfig(previous: string): RawConfig {
  const scratch = mkdtempSync(join(tmpdir(), "edge-rollback-"));
  try {
    writeFileSync(join(scratch, "wrangler.toml"), git("show", `${previous}:wrangler.toml`));
    return readRaw(join(scratch, "wrangler.toml"));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** This release's migrations the previous one lacks; only ones that add classes can be carried back. */
function addedMigrations(current: RawConfig, old: RawConfig): Migration[] {
  const currentTags = (current.migrations ?? []).map((migration) => migration.tag);
  const oldTags = (old.migrations ?? []).map((migration) => migration.tag);
  if (oldTags.some((tag, index) => currentTags[index] !== tag))
    throw new Error(
      `the previous release's migrations (${oldTags.join(", ")}) are not the start of this one's (${currentTags.join(", ")})`,
    );
  const added = (current.migrations ?? []).slice(oldTags.length);
  for (const migration of added) {
    const other = Object.keys(migration).filter((key) => !ADDING_ONLY.has(key));
    if (other.length > 0)
      throw new Error(`migration ${migration.tag} does more than add classes (${other.join(", ")}): carry it back by hand`);
  }
  return added;
}

/** Relative imports that stay in the bundle (type-only ones are erased). */
function valueImports(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+"(\.{1,2}\/[^"]+)"/gm)]
    .filter(([, typeOnly]) => !typeOnly)
    .map(([, , specifier]) => String(specifier));
}

/** Copies a file of this release into the worktree, with what it imports that the worktree lacks. */
function copyInto(worktree: string, file: string, warnings: string[], copied: string[]): void {
  const target = join(worktree, file);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(ROOT, file), target);
  copied.push(file);
  for (const specifier of valueImports(readFileSync(join(ROOT, file), "utf8"))) {
    const imported = relative(ROOT, resolve(ROOT, dirname(file), specifier));
    const there = join(worktree, imported);
    if (!existsSync(there)) copyInto(worktree, imported, warnings, copied);
    else if (readFileSync(there, "utf8") !== readFileSync(join(ROOT, imported), "utf8"))
      warnings.push(`${file} imports ${imported}, which differs in the previous release: the class runs with that one`);
  }
}

function toml(value: unknown): string {
  return JSON.stringify(value).replaceAll(",", ", ");
}

function table(header: string, entries: object): string {
  const lines = Object.entries(entries).map(([key, value]) => `${key} = ${toml(value)}`);
  return `\n[[${header}]]\n${lines.join("\n")}\n`;
}

/** The bindings of `classes` in `current` that `old` lacks, at the top level and in each environment `old` binds in. */
function addedBindings(current: RawConfig, old: RawConfig, classes: Set<string>): string[] {
  const missing = (from: Binding[] | undefined, have: Binding[] | undefined) =>
    (from ?? []).filter((binding) => classes.has(binding.class_name) && !(have ?? []).some((h) => h.name === binding.name));
  const tables = missing(current.durable_objects?.bindings, old.durable_objects?.bindings).map((binding) =>
    table("durable_objects.bindings", binding),
  );
  for (const [env, settings] of Object.entries(current.env ?? {})) {
    const oldBindings = old.env?.[env]?.durable_objects?.bindings;
    if (!oldBindings) continue;
    const key = /^[A-Za-z0-9_-]+$/.test(env) ? env : JSON.stringify(env);
    for (const binding of missing(settings.durable_objects?.bindings, oldBindings))
      tables.push(table(`env.${key}.durable_objects.bindings`, binding));
  }
  return tables;
}

function prepare(previous: string, directory: string): void {
  const current = readRaw(join(ROOT, "wrangler.toml"));
  const old = previousConfig(previous);
  const added = addedMigrations(current, old);
  if (added.length === 0) {
    console.log(`No Durable Object migration since ${previous}: \`npx wrangler rollback\` can go back to it.`);
    return;
  }
  const classes = added.flatMap((migration) => [...(migration.new_sqlite_classes ?? []), ...(migration.new_classes ?? [])]);
  const currentEntry = join(ROOT, current.main ?? "worker/index.ts");
  const entryText = readFileSync(currentEntry, "utf8");

  git("worktree", "add", "--detach", directory, previous);
  const worktree = resolve(directory);
  const oldEntry = join(worktree, old.main ?? "worker/index.ts");
  const warnings: string[] = [];
  const copied: string[] = [];
  const exportLines = classes.map((className) => {
    const specifier = new RegExp(`export\\s*\\{\\s*${className}\\s*\\}\\s*from\\s*"([^"]+)"`).exec(entryText)?.[1];
    if (!specifier)
      throw new Error(`${relative(ROOT, currentEntry)} does not export ${className} as \`export { ${className} } from "…"\``);
    const source = relative(ROOT, resolve(dirname(currentEntry), specifier));
    copyInto(worktree, source, warnings, copied);
    let fromOldEntry = relative(dirname(oldEntry), join(worktree, source));
    if (!fromOldEntry.startsWith(".")) fromOldEntry = `./${fromOldEntry}`;
    return `export { ${className} } from "${fromOldEntry}";`;
  });
  appendFileSync(
    oldEntry,
    `\n// Classes added since this release, exported so it can be deployed over their objects (scripts/prepare-edge-rollback.ts).\n${exportLines.join("\n")}\n`,
  );
  const tables = [...added.map((migration) => table("migrations", migration)), ...addedBindings(current, old, new Set(classes))];
  appendFileSync(
    join(worktree, "wrangler.toml"),
    `\n# The later release's Durable Object migrations and bindings (scripts/prepare-edge-rollback.ts).${tables.join("")}`,
  );
  const migrated = (readRaw(join(worktree, "wrangler.toml")).migrations ?? []).map((migration) => migration.tag);
  const expected = (current.migrations ?? []).map((migration) => migration.tag);
  if (migrated.join() !== expected.join()) throw new Error(`the worktree's migrations read back as ${migrated.join(", ")}`);

  console.log(
    [
      `Prepared ${worktree}: ${previous} with migrations ${added.map((m) => m.tag).join(", ")} and ${classes.join(", ")} (${copied.join(", ")}).`,
      ...warnings.map((warning) => `Check: ${warning}.`),
      "Then, in it:",
      "  npm ci",
      "  npx wrangler deploy --dry-run --env production      # names each Durable Object binding, uploads nothing",
      "  npx wrangler deploy --env production",
    ].join("\n"),
  );
}

const [previous, directory] = process.argv.slice(2);
if (!previous || !directory) {
  console.error("usage: npx node scripts/prepare-edge-rollback.ts <previous release (a commit)> <directory for its worktree>");
  process.exit(2);
}
try {
  prepare(previous, directory);
} catch (error) {
  console.error(`Could not prepare the rollback: ${(error as Error).message}`);
  process.exit(1);
}
