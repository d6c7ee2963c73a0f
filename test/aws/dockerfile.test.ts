import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { DockerIgnoreStrategy } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { RDS_CA_BUNDLE } from "../../aws/cdk/service/origin-container.ts";

/**
 * No Docker engine here, so the image is checked by reading its recipe: what the build context lets through
 * (.dockerignore, with the same matcher CDK uses when it stages the context), what the Dockerfile copies, and what
 * `node aws/origin/main.ts` imports, transitively.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const ignore = new DockerIgnoreStrategy(
  ROOT,
  readFileSync(join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#")),
);
const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The source paths the final stage copies from the build context (COPY without --from). */
const copiedFromContext = [...dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) (\S+)$/gm)].flatMap((match) =>
  (match[1] ?? "").split(/\s+/),
);
const inImage = (file: string) =>
  copiedFromContext.some((source) => file === source || file.startsWith(`${source.replace(/\/$/, "")}/`));
const inContext = (file: string) => !ignore.ignores(join(ROOT, file));

/** Every file `entry` imports through relative paths, and every package it names. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(join(ROOT, file), "utf8");
    for (const [, specifier] of source.matchAll(/(?:^|\s)(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\("([^"]+)"\)/gm)) {
      if (!specifier) continue;
      if (specifier.startsWith(".")) visit(relative(ROOT, resolve(dirname(join(ROOT, file)), specifier)));
      else if (!specifier.startsWith("node:") && !builtinModules.includes(specifier)) {
        packages.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? ""));
      }
    }
  };
  visit(entry);
  return { files, packages };
}

describe("the origin's Dockerfile", () => {
  const cmd = /^CMD \["node", "([^"]+)"\]$/m.exec(dockerfile)?.[1];

  it("runs the origin with the pinned Node, its stdio children each as a user of its own, with a health check", () => {
    expect(cmd).toBe("aws/origin/main.ts");
    const pinned = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-/m.exec(dockerfile)?.[1];
    expect(pinned, "the base image names an exact Node version").toBeDefined();
    expect(packageJson.devDependencies.node?.replace(/^\D+/, "").split(".")[0]).toBe(pinned?.split(".")[0]);
    expect(dockerfile.match(/^FROM /gm)?.length, "multi-stage").toBeGreaterThanOrEqual(2);
    // Root only to run each child as a user of its own (docs/security.md, "Upstream hosting"): never one without the other.
    expect(dockerfile).toMatch(/^USER root$/m);
    expect(dockerfile).toMatch(/^ENV STDIO_CHILD_UID_FIRST=\d+ \\\n\s+STDIO_CHILD_UID_COUNT=\d+$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
  });

  it("holds the RDS CA bundle from AWS over HTTPS where the task's PGSSLROOTCERT names it, pinned by checksum or saying why not", () => {
    const add = /^ADD (?:--\S+ )*(\S+) (\S+)$/m.exec(dockerfile);
    expect(add?.[1]).toBe("https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem");
    expect(add?.[2]).toBe(RDS_CA_BUNDLE);
    // Only the database pool trusts it (docs/security.md): never every TLS client of the process.
    const instructions = dockerfile.split("\n").filter((line) => !line.trimStart().startsWith("#"));
    expect(instructions.join("\n")).not.toContain("NODE_EXTRA_CA_CERTS");
    const pinned = /^ADD .*--checksum=sha256:[0-9a-f]{64} /m.test(dockerfile);
    // Unpinned is a decision the file explains, with how to pin it and what then breaks when AWS changes the bundle.
    if (!pinned) {
      expect(dockerfile).toMatch(/^# Not pinned by checksum, on purpose: .*$/m);
      expect(dockerfile).toMatch(/--checksum=sha256:<sha256sum of the file now at that URL>/);
    }
  });

  it("has in its build context, and copies into the image, every file the CMD imports", () => {
    const { files } = importGraph(cmd as string);
    expect(files.size).toBeGreaterThan(10);
    const missing = [...files].filter((file) => !inContext(file) || !inImage(file));
    expect(missing, "imported by the origin but absent from the image").toEqual([]);
    // Files it reads at run time without importing them: the SQL migrations.
    const migrations = join("aws/origin/db/migrations", "0001_audit_and_replay.sql");
    expect(existsSync(join(ROOT, migrations)) && inContext(migrations) && inImage(migrations)).toBe(true);
  });

  it("installs every package the origin imports as a production dependency (npm ci --omit=dev)", () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(inContext("package.json") && inContext("package-lock.json")).toBe(true);
    const { packages } = importGraph(cmd as string);
    const notInstalled = [...packages].filter((name) => !(name in packageJson.dependencies));
    expect(notInstalled, "imported by the origin but only a devDependency, or not a dependency at all").toEqual([]);
  });

  // The operators' commands run in a one-off task of the origin's task definition, the database being private
  // (docs/operations.md, "Running the operators' commands against the deployed database"): `node <file>` in this image.
  it.each([
    "aws/origin/pinning/cli.ts",
    "aws/origin/audit/cli.ts",
    "aws/origin/policy/cli.ts",
    "aws/origin/vault/cli.ts",
    "aws/origin/db/migrate-cli.ts",
  ])("has %s, everything it imports and every package it needs (production dependencies)", (entry) => {
    const { files, packages } = importGraph(entry);
    expect([...files].filter((file) => !inContext(file) || !inImage(file))).toEqual([]);
    expect([...packages].filter((name) => !(name in packageJson.dependencies))).toEqual([]);
  });

  it("keeps the rest of the repository out of the build context", () => {
    for (const file of [
      "node_modules/pg/package.json",
      "test/aws/dockerfile.test.ts",
      "worker/index.ts",
      "local/start.ts",
      ".git/HEAD",
      "dist/x",
    ]) {
      expect(inContext(file), file).toBe(false);
    }
  });
});
