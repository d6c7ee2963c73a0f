// Adds lockfile entries for platform-specific optional packages that the registry in use did not
// serve (mirrors often carry only the binaries of their own platform). Without an entry npm records
// nothing, and `npm ci` then refuses the lockfile on every machine ("Missing: … from lock file").
// The entries carry `os`/`cpu`, so npm skips them where they do not apply and fetches them (from the
// full registry) where they do. Run after `npm install` whenever dependencies change.
import { readFileSync, writeFileSync } from "node:fs";

const LOCKFILE = new URL("../package-lock.json", import.meta.url);
const OS_BY_TOKEN = {
  darwin: "darwin",
  linux: "linux",
  win32: "win32",
  windows: "win32",
  android: "android",
  freebsd: "freebsd",
};
const CPU_BY_TOKEN = { x64: "x64", 64: "x64", arm64: "arm64", ia32: "ia32", arm: "arm" };

function platformOf(name) {
  const tokens = name.split("/").pop().split("-");
  const os = tokens.map((t) => OS_BY_TOKEN[t]).find(Boolean);
  const cpu = tokens.map((t) => CPU_BY_TOKEN[t]).findLast(Boolean);
  if (!os || !cpu) throw new Error(`cannot tell the platform of ${name}: add its tokens to complete-lockfile.mjs`);
  const libc = tokens.includes("musl") ? ["musl"] : undefined;
  return { os: [os], cpu: [cpu], ...(libc && { libc }) };
}

/** Whether Node's resolution from the package at `path` finds `name` in any enclosing node_modules. */
function resolvable(path, name) {
  for (let dir = path; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
    if (lock.packages[`${dir === "" ? "" : `${dir}/`}node_modules/${name}`]) return true;
    if (dir === "") return false;
  }
}

const lock = JSON.parse(readFileSync(LOCKFILE, "utf8"));
const added = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolvable(path, name)) continue;
    lock.packages[`node_modules/${name}`] = { version, ...(entry.dev && { dev: true }), optional: true, ...platformOf(name) };
    added.push(`${name}@${version}`);
  }
}
writeFileSync(LOCKFILE, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added ${added.length} platform entries: ${added.join(", ")}` : "lockfile already complete");
