import { Arn, ArnFormat, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as kms from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";

/** A KMS key the origin uses: its ARN (what the task role is granted on) and its region (where the origin calls KMS). */
export interface OriginKey {
  keyArn: string;
  region: string;
}

export interface OriginKeysProps {
  /** The deployment's name: the aliases are `alias/<name>-audit-checkpoints` and `alias/<name>-upstream-vault`. */
  name: string;
  /** Existing keys to use instead of creating them (`origin.auditCheckpointKeyArn`, `origin.upstreamVaultKeyArn`). */
  auditCheckpointKeyArn?: string;
  upstreamVaultKeyArn?: string;
}

/**
 * The origin's customer-managed KMS keys, one per purpose, shared by every task:
 * - the audit checkpoint key (ECC_NIST_P256, SIGN_VERIFY) signs the heads of the audit hash chains, so a checkpoint
 *   proves something only a holder of kms:Sign on this key could have made (docs/audit.md);
 * - the upstream vault key (SYMMETRIC_DEFAULT, yearly rotation) wraps the data key of each stored upstream OAuth token,
 *   so a token sealed by one task opens in any other (docs/upstream-credentials.md).
 * Both are retained when the stack is deleted: without the vault key no stored token can be opened, and without the
 * signing key old checkpoints can no longer be checked against KMS. Their aliases go with the stack.
 */
export class OriginKeys extends Construct {
  readonly auditCheckpoints: OriginKey;
  readonly upstreamVault: OriginKey;

  constructor(scope: Construct, id: string, props: OriginKeysProps) {
    super(scope, id);
    this.auditCheckpoints = props.auditCheckpointKeyArn
      ? existingKey(props.auditCheckpointKeyArn)
      : this.createdKey(
          new kms.Key(this, "AuditCheckpointKey", {
            keySpec: kms.KeySpec.ECC_NIST_P256,
            keyUsage: kms.KeyUsage.SIGN_VERIFY,
            alias: `alias/${props.name}-audit-checkpoints`,
            description: `Signs the audit trail's checkpoints of ${props.name} (ECDSA_SHA_256). Export its public key for npm run audit -- verify --public-key.`,
            removalPolicy: RemovalPolicy.RETAIN,
          }),
        );
    this.upstreamVault = props.upstreamVaultKeyArn
      ? existingKey(props.upstreamVaultKeyArn)
      : this.createdKey(
          new kms.Key(this, "UpstreamVaultKey", {
            keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
            keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
            enableKeyRotation: true,
            alias: `alias/${props.name}-upstream-vault`,
            description: `Wraps the data keys of the users' upstream OAuth tokens stored by ${props.name}. Losing it loses every stored token.`,
            removalPolicy: RemovalPolicy.RETAIN,
          }),
        );
  }

  private createdKey(key: kms.Key): OriginKey {
    return { keyArn: key.keyArn, region: Stack.of(this).region };
  }
}

/** A key the operator named by ARN: the origin calls KMS in the key's own region. */
function existingKey(keyArn: string): OriginKey {
  const region = Arn.split(keyArn, ArnFormat.SLASH_RESOURCE_NAME).region;
  if (!region) throw new Error(`${keyArn}: a KMS key ARN names its region`);
  return { keyArn, region };
}
