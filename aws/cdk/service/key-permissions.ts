import * as iam from "aws-cdk-lib/aws-iam";
import { CHECKPOINT_MESSAGE_TYPE, CHECKPOINT_SIGNING_ALGORITHM } from "../../origin/audit/checkpoint/signer.ts";
import { VAULT_CONTEXT_PURPOSE } from "../../origin/vault/token-vault.ts";
import type { OriginKey } from "../data/origin-keys.ts";

/**
 * What the origin's task role may do with its KMS keys, and nothing more: sign checkpoints (ECDSA_SHA_256 over the raw
 * payload) and read the signing key's public half; generate and decrypt the vault's data keys under the vault's
 * encryption context. Each statement names one key by ARN.
 */
export function grantOriginKeys(role: iam.IRole, keys: { auditCheckpoints: OriginKey; upstreamVault: OriginKey }): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "SignAuditCheckpoints",
      actions: ["kms:Sign"],
      resources: [keys.auditCheckpoints.keyArn],
      conditions: {
        StringEquals: { "kms:SigningAlgorithm": CHECKPOINT_SIGNING_ALGORITHM, "kms:MessageType": CHECKPOINT_MESSAGE_TYPE },
      },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "ReadAuditCheckpointPublicKey",
      actions: ["kms:GetPublicKey"],
      resources: [keys.auditCheckpoints.keyArn],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: "UpstreamVaultDataKeys",
      actions: ["kms:GenerateDataKey", "kms:Decrypt"],
      resources: [keys.upstreamVault.keyArn],
      conditions: { StringEquals: { "kms:EncryptionContext:purpose": VAULT_CONTEXT_PURPOSE } },
    }),
  );
}
