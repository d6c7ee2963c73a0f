import { GetPublicKeyCommand, type KMSClient, SignCommand } from "@aws-sdk/client-kms";
import { CHECKPOINT_MESSAGE_TYPE, CHECKPOINT_SIGNING_ALGORITHM, type CheckpointSigner } from "../signer.ts";

/**
 * Checkpoints signed by an asymmetric AWS KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY): the private key never
 * leaves KMS, and the task role needs only kms:Sign and kms:GetPublicKey on it.
 */
export function kmsCheckpointSigner(client: KMSClient, keyId: string): CheckpointSigner {
  let described: Promise<{ keyId: string; publicKey: Buffer }> | undefined;
  const describe = async () => {
    const key = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    if (key.KeySpec !== "ECC_NIST_P256" || !key.SigningAlgorithms?.includes(CHECKPOINT_SIGNING_ALGORITHM) || !key.PublicKey) {
      throw new Error(
        `KMS key ${keyId} cannot sign audit checkpoints: expected key spec ECC_NIST_P256 with usage SIGN_VERIFY, got ${key.KeySpec ?? "none"} (${key.KeyUsage ?? "no usage"})`,
      );
    }
    return { keyId: key.KeyId ?? keyId, publicKey: Buffer.from(key.PublicKey) };
  };
  // Asked once; a failure is not kept, so the next checkpoint asks again.
  const describeOnce = () => {
    described ??= describe().catch((error: unknown) => {
      described = undefined;
      throw error;
    });
    return described;
  };
  return {
    describe: describeOnce,
    async sign(payload) {
      const { keyId: arn } = await describeOnce();
      const signed = await client.send(
        new SignCommand({
          KeyId: arn,
          Message: payload,
          MessageType: CHECKPOINT_MESSAGE_TYPE,
          SigningAlgorithm: CHECKPOINT_SIGNING_ALGORITHM,
        }),
      );
      if (!signed.Signature) throw new Error(`KMS returned no signature for key ${arn}`);
      return Buffer.from(signed.Signature);
    },
  };
}
