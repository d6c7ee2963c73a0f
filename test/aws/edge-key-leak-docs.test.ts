import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateEdgeSigningKey } from "../../scripts/keygen.ts";
import { loadSigningKey } from "../../worker/upstream/signing-key.ts";
import { jqMissingHere } from "./jq.ts";

// After a leak of the edge signing key (docs/operations.md, *A leaked edge signing key*) the operator copies the
// commands into a shell: they must leave the new key signing and no other key published, in one Worker version, and
// make every origin task drop the leaked key at once (a forced deployment), not when its key-set copy ages out.

const operations = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
const start = operations.indexOf("**A leaked edge signing key.**");
const section = operations.slice(start, operations.indexOf("Then search the audit", start));
const [edgeBlock = "", originBlock = ""] = [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map(([, body = ""]) => body);

/** Stand-ins: keygen prints the prepared key, curl the JWKS the edge would serve, npx records wrangler's arguments. */
const STUBS = `
npm() { cat "$STUB/keygen.out"; }
curl() { cat "$STUB/jwks.json"; }
npx() {
  printf '%s\\n' "$*" >> "$STUB/npx.log"
  case "$1 $2 $3" in "wrangler secret bulk") cp "$4" "$STUB/bulk.json" ;; esac
}
`;

describe("the leaked edge signing key's procedure in docs/operations.md", () => {
  let dir: string;
  let stub: string;

  function run(block: string): { stdout: string; wrangler: string[] } {
    writeFileSync(join(stub, "npx.log"), "");
    let stdout = "";
    try {
      stdout = execFileSync("bash", ["-c", `${STUBS}\n${block}`], {
        cwd: dir,
        env: { ...process.env, STUB: stub, EDGE: "https://mcp.example.com" },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch {
      // A refusal by jq: what wrangler was given (nothing) is what is checked.
    }
    const wrangler = readFileSync(join(stub, "npx.log"), "utf8").split("\n").filter(Boolean);
    return { stdout, wrangler };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-leak-"));
    stub = mkdtempSync(join(tmpdir(), "edge-leak-stub-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(stub, { recursive: true, force: true });
  });

  it.skipIf(jqMissingHere)(
    "signs with the new key and deletes the rotation key in one version, leaving no key file",
    async () => {
      const next = await generateEdgeSigningKey();
      const nextKey = await loadSigningKey(next);
      writeFileSync(join(stub, "keygen.out"), `${next}\n`);
      // What the edge serves once the bulk is applied: the new key alone.
      writeFileSync(join(stub, "jwks.json"), JSON.stringify({ keys: [nextKey.publicJwk] }));

      const { stdout, wrangler } = run(edgeBlock);
      expect(wrangler).toEqual(["wrangler secret bulk leak.json --env production"]);
      const bulk = JSON.parse(readFileSync(join(stub, "bulk.json"), "utf8")) as Record<string, unknown>;
      expect(bulk).toEqual({ EDGE_SIGNING_KEY: expect.any(String), EDGE_SIGNING_KEY_ROTATION: null });
      expect((await loadSigningKey(String(bulk.EDGE_SIGNING_KEY))).kid).toBe(nextKey.kid);
      expect(stdout.trim()).toBe(nextKey.kid);
      expect(existsSync(join(dir, "leak.json"))).toBe(false);
      expect(existsSync(join(dir, "new.jwk"))).toBe(false);
    },
  );

  it.skipIf(jqMissingHere)("changes nothing when the new key is not a private EC key", () => {
    writeFileSync(join(stub, "keygen.out"), "> mcp-edge-proxy@0.1.0 keygen\n");
    expect(run(edgeBlock).wrangler).toEqual([]);
    writeFileSync(join(stub, "keygen.out"), '{"kty":"EC","crv":"P-256","kid":"k","x":"AA","y":"AA"}\n');
    expect(run(edgeBlock).wrangler).toEqual([]);
  });

  it("forces a new deployment of the origin and waits for it", () => {
    expect(originBlock.trim().split("\n")).toEqual([
      "aws ecs update-service --cluster <OriginClusterName output> --service <OriginServiceName output> --force-new-deployment",
      "aws ecs wait services-stable --cluster <OriginClusterName output> --services <OriginServiceName output>",
    ]);
    expect(section).toContain("With a shared key");
    expect(section).toMatch(/put-secret-value --secret-id <name>\/origin\/edge-shared-key/);
  });

  it("says nowhere to deploy after a wrangler secret command, which deploys by itself", () => {
    const rotating = operations.slice(operations.indexOf("## Rotating secrets"), operations.indexOf("## Replaying"));
    expect(rotating).toContain("IDP_CLIENT_SECRET --env production");
    expect(rotating).not.toMatch(/wrangler secret [^.;]*;\s*deploy\b/);
  });
});
