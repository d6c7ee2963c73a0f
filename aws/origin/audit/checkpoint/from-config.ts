import { KMSClient } from "@aws-sdk/client-kms";
import type { OriginConfig } from "../../../../contract/config/schema.ts";
import { kmsCheckpointSigner } from "./kms/kms-signer.ts";
import { generateCheckpointKey, keyFromFile, localCheckpointSigner, parsePrivateKey } from "./local/local-signer.ts";
import type { CheckpointSigner } from "./signer.ts";

type CheckpointConfig = OriginConfig["audit"]["checkpoints"];

/** The signer the configuration names (`audit.checkpoints.signer`), saying in the log where its key comes from. */
export async function checkpointSignerFromConfig(
  config: CheckpointConfig,
  log: (line: string) => void,
): Promise<CheckpointSigner> {
  if (config.signer === "kms") {
    const client = new KMSClient({ region: config.kmsRegion, endpoint: config.kmsEndpoint });
    return kmsCheckpointSigner(client, config.kmsKeyId as string);
  }
  if (config.localKey) return localCheckpointSigner(parsePrivateKey(config.localKey));
  if (config.localKeyFile) {
    const { key, created } = await keyFromFile(config.localKeyFile);
    if (created) log(`audit checkpoints: made a signing key in ${config.localKeyFile}`);
    return localCheckpointSigner(key);
  }
  log(
    "audit checkpoints: signed with a key made for this run (set audit.checkpoints.localKeyFile to keep one, or use KMS in production)",
  );
  return localCheckpointSigner(generateCheckpointKey());
}
