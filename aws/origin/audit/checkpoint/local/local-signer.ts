import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign,
} from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { jsonSyntaxProblem } from "../../../../../contract/config/load.ts";
import type { CheckpointSigner } from "../signer.ts";

/** A checkpoint signer holding its own EC P-256 key: for `npm start` and tests. Production uses KMS. */
export function localCheckpointSigner(privateKey: KeyObject): CheckpointSigner {
  const details = privateKey.asymmetricKeyDetails;
  if (privateKey.asymmetricKeyType !== "ec" || details?.namedCurve !== "prime256v1") {
    throw new Error("the local audit checkpoint key must be an EC P-256 private key (PKCS#8 PEM or JWK)");
  }
  const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const keyId = `local:${createHash("sha256").update(publicKey).digest("hex").slice(0, 32)}`;
  return {
    describe: async () => ({ keyId, publicKey }),
    sign: async (payload) => sign("sha256", payload, { key: privateKey, dsaEncoding: "der" }),
  };
}

/** Where the key `parsePrivateKey` reads is set, unless it is told otherwise. */
const LOCAL_KEY_SETTING = "audit.checkpoints.localKey (AUDIT_CHECKPOINT_LOCAL_KEY)";

/**
 * A private key written as a PKCS#8 PEM or as a JWK (JSON). A key that cannot be read is refused naming `setting`, and
 * with nothing of the value: a JSON parser quotes the text around its error, Node's JWK checks quote a field they
 * refuse (an unknown `kty`), so only their code is told.
 */
export function parsePrivateKey(text: string, setting: string = LOCAL_KEY_SETTING): KeyObject {
  const trimmed = text.trim();
  let jwk: JsonWebKey | undefined;
  if (trimmed.startsWith("{")) {
    try {
      jwk = JSON.parse(trimmed) as JsonWebKey;
    } catch (error) {
      throw new Error(
        `${setting} cannot be read: it starts as a JWK but is ${jsonSyntaxProblem(error)} (expected a PKCS#8 PEM or a JWK)`,
      );
    }
  }
  try {
    return jwk ? createPrivateKey({ key: jwk, format: "jwk" }) : createPrivateKey(trimmed);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new Error(
      `${setting} cannot be read (expected a PKCS#8 PEM or a JWK of an EC P-256 private key)${typeof code === "string" ? `: ${code}` : ""}`,
    );
  }
}

/** A new EC P-256 private key. */
export function generateCheckpointKey(): KeyObject {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
}

/** The key kept in `path`, made and written there (PKCS#8 PEM, mode 0600) when the file does not exist yet. */
export async function keyFromFile(path: string): Promise<{ key: KeyObject; created: boolean }> {
  try {
    return {
      key: parsePrivateKey(await readFile(path, "utf8"), `the key file ${path} (audit.checkpoints.localKeyFile)`),
      created: false,
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = generateCheckpointKey();
  // `wx`: if another instance made it meanwhile, fail here and read theirs on the next start instead of replacing it.
  await writeFile(path, key.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
  return { key, created: true };
}
