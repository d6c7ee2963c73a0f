import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkpointSignerFromConfig } from "../../aws/origin/audit/checkpoint/from-config.ts";
import { OriginConfig } from "../../contract/config/schema.ts";

// A local checkpoint key that cannot be read stops the origin, and its message goes to the log: it names the setting
// to fix and quotes nothing of the value (a private key, or a part of one).

const checkpointConfig = (checkpoints: Record<string, unknown>) =>
  OriginConfig.parse({ publicUrl: "https://origin.example.com", edgeIssuer: "https://edge.example.com", audit: { checkpoints } })
    .audit.checkpoints;

const refusalOf = (checkpoints: Record<string, unknown>) =>
  checkpointSignerFromConfig(checkpointConfig(checkpoints), () => {}).then(
    () => "accepted",
    (error: Error) => error.message,
  );

describe("a local audit checkpoint key that cannot be read", () => {
  it.each([
    ["a JWK missing its quotes", '{"kty":"EC","crv":"P-256","x":"xpartofkey0123","d":SECRETCKPT0123456789}'],
    ["a JWK with a number for d", '{"kty":"EC","crv":"P-256","x":"xpartofkey0123","d":401234567890123}'],
    ["a JWK of the wrong curve", '{"kty":"EC","crv":"SECRETCURVE","x":"xpartofkey0123","d":"SECRETCKPT0123456789"}'],
    ["a JWK of an unknown key type (Node quotes it)", '{"kty":"SECRETCKPT0123456789","d":"xpartofkey0123"}'],
    ["a PEM of garbage", "-----BEGIN PRIVATE KEY-----\nSECRETCKPT0123456789\n-----END PRIVATE KEY-----"],
  ])("is refused naming its setting, without any of its value: %s", async (_what, localKey) => {
    const message = await refusalOf({ localKey });
    expect(message).toMatch(/^audit\.checkpoints\.localKey \(AUDIT_CHECKPOINT_LOCAL_KEY\) cannot be read/);
    expect(message).toContain("expected a PKCS#8 PEM or a JWK");
    for (const part of ["SECRETCKPT", "xpartofkey", "401234567890123", "SECRETCURVE", "BEGIN"])
      expect(message).not.toContain(part);
  });

  it("says a JWK is not valid JSON", async () => {
    expect(await refusalOf({ localKey: '{"kty":"EC","d":SECRETCKPT}' })).toContain("it starts as a JWK but is not valid JSON");
  });

  it("in a key file is refused naming the file and its setting, without any of its value", async () => {
    const folder = await mkdtemp(join(tmpdir(), "checkpoint-key-"));
    try {
      const localKeyFile = join(folder, "checkpoint.key");
      await writeFile(localKeyFile, '{"kty":"EC","d":SECRETCKPT0123456789}');
      const message = await refusalOf({ localKeyFile });
      expect(message).toContain(`the key file ${localKeyFile} (audit.checkpoints.localKeyFile) cannot be read`);
      expect(message).not.toContain("SECRETCKPT");
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
