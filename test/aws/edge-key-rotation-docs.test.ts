import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";
import { loadSigningKey, rotationPublicKey } from "../../worker/upstream/signing-key.ts";
import { jqMissingHere } from "./jq.ts";

// The edge signing key's rotation (docs/operations.md) is copied into a shell by an operator: its commands are run
// here as written, with `npm`, `curl` and `npx` standing in for keygen, the edge's JWKS and wrangler, and what they
// hand wrangler must be what the Worker accepts. A Worker secret cannot be read back, so the current key can only
// come from the published JWKS; and each `wrangler secret` command deploys a version, so the swap must be one command.

const operations = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
const section = operations.slice(
  operations.indexOf("**Edge signing key.**"),
  operations.indexOf("No origin restart", operations.indexOf("**Edge signing key.**")),
);
/** The section's shell blocks (indented in the numbered list), in order. */
const blocks = [...section.matchAll(/^( *)```sh\n([\s\S]*?)^\1```/gm)].map(([, indent = "", body = ""]) =>
  body.replace(new RegExp(`^${indent}`, "gm"), ""),
);

/** Stand-ins: keygen prints the prepared key, curl the JWKS the edge would serve, npx records wrangler's arguments. */
const STUBS = `
npm() { cat "$STUB/keygen.out"; }
curl() { cat "$STUB/jwks.json"; }
npx() {
  printf '%s\\n' "$*" >> "$STUB/npx.log"
  case "$1 $2 $3" in
    "wrangler secret put") cat > "$STUB/put-$4" ;;
    "wrangler secret bulk") cp "$4" "$STUB/bulk.json" ;;
  esac
}
`;

describe("the edge signing key's rotation in docs/operations.md", () => {
  let dir: string;
  let stub: string;
  /** The Worker's secrets as the commands leave them. */
  let secrets: Map<string, string>;

  /** The key set the edge serves for these secrets (worker/upstream/jwks.ts): the signing key's, then the rotation's. */
  async function publish(): Promise<void> {
    const signing = await loadSigningKey(secrets.get("EDGE_SIGNING_KEY") ?? "");
    const rotation = secrets.get("EDGE_SIGNING_KEY_ROTATION");
    const keys = [signing.publicJwk, ...(rotation ? [rotationPublicKey(rotation, signing.publicJwk?.kid)] : [])];
    writeFileSync(join(stub, "jwks.json"), JSON.stringify({ keys }));
  }

  function run(block: string): { stdout: string; wrangler: string[] } {
    writeFileSync(join(stub, "npx.log"), "");
    const stdout = execFileSync("bash", ["-c", `${STUBS}\n${block}`], {
      cwd: dir,
      env: { ...process.env, STUB: stub, EDGE: "https://mcp.example.com" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    const wrangler = readFileSync(join(stub, "npx.log"), "utf8").split("\n").filter(Boolean);
    return { stdout, wrangler };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-rotation-"));
    stub = mkdtempSync(join(tmpdir(), "edge-rotation-stub-"));
    secrets = new Map();
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(stub, { recursive: true, force: true });
  });

  it("has a shell block for publishing the next key and one for the swap", () => {
    expect(blocks).toHaveLength(2);
    expect(section).toContain("npx wrangler secret delete EDGE_SIGNING_KEY_ROTATION --env production");
    // Secret commands deploy by themselves: a separate deploy in between would be one more version.
    expect(section).not.toMatch(/npx wrangler deploy/);
  });

  it.skipIf(jqMissingHere)("publishes the next key, then swaps both secrets in one version the Worker accepts", async () => {
    const current = await generateEdgeSigningKey();
    const next = await generateEdgeSigningKey();
    const [currentKid, nextKid] = [JSON.parse(current).kid, JSON.parse(next).kid];
    secrets.set("EDGE_SIGNING_KEY", current);
    writeFileSync(join(stub, "keygen.out"), `${next}\n`);

    // Step 1: the next key is published beside the current one (the block's curl runs after its secret put).
    const [publishNext = "", swap = ""] = blocks;
    secrets.set("EDGE_SIGNING_KEY_ROTATION", next);
    await publish();
    const first = run(publishNext);
    expect(first.wrangler).toEqual(["wrangler secret put EDGE_SIGNING_KEY_ROTATION --env production"]);
    expect(readFileSync(join(stub, "put-EDGE_SIGNING_KEY_ROTATION"), "utf8").trim()).toBe(next);
    expect(readFileSync(join(dir, "next.jwk"), "utf8").trim()).toBe(next);
    expect(first.stdout.trim().split("\n")).toEqual([currentKid, nextKid]);

    // Step 2: one wrangler command, so one new version, sets both secrets.
    const second = run(swap);
    expect(second.wrangler).toEqual(["wrangler secret bulk swap.json --env production"]);
    const bulk = JSON.parse(readFileSync(join(stub, "bulk.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(bulk).sort()).toEqual(["EDGE_SIGNING_KEY", "EDGE_SIGNING_KEY_ROTATION"]);
    for (const value of Object.values(bulk)) expect(typeof value).toBe("string");
    secrets.set("EDGE_SIGNING_KEY", String(bulk.EDGE_SIGNING_KEY));
    secrets.set("EDGE_SIGNING_KEY_ROTATION", String(bulk.EDGE_SIGNING_KEY_ROTATION));
    // The new key signs; the old one is still published, exactly as before, from its public half alone.
    expect((await loadSigningKey(secrets.get("EDGE_SIGNING_KEY") ?? "")).kid).toBe(nextKid);
    const old = await loadSigningKey(current);
    expect(rotationPublicKey(secrets.get("EDGE_SIGNING_KEY_ROTATION") ?? "", nextKid)).toEqual(old.publicJwk);
    expect(JSON.parse(secrets.get("EDGE_SIGNING_KEY_ROTATION") ?? "{}")).not.toHaveProperty("d");
    // No copy of the private key is left behind but next.jwk.
    expect(existsSync(join(dir, "swap.json"))).toBe(false);
  });

  it.skipIf(jqMissingHere)("changes nothing when the JWKS could not be read", async () => {
    writeFileSync(join(dir, "next.jwk"), `${await generateEdgeSigningKey()}\n`);
    writeFileSync(join(stub, "jwks.json"), "");
    const { wrangler } = run(blocks[1] ?? "");
    expect(wrangler).toEqual([]);
  });
});
