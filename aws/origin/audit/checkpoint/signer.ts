/**
 * What signs the audit chains' checkpoints: an ECDSA P-256 key with SHA-256, held by AWS KMS in production
 * (`kms/`) or by the origin itself for local use (`local/`). Signatures are DER-encoded, as both produce them.
 */
export interface CheckpointSigner {
  /** The key's name as checkpoints record it, and its public half (DER SubjectPublicKeyInfo). */
  describe(): Promise<{ keyId: string; publicKey: Buffer }>;
  /** An ECDSA_SHA_256 signature (DER) over `payload`. */
  sign(payload: Buffer): Promise<Buffer>;
}

/** The algorithm of every checkpoint signature, in KMS's words. */
export const CHECKPOINT_SIGNING_ALGORITHM = "ECDSA_SHA_256";
/** What KMS is given to sign: the payload itself, which KMS hashes (not a digest made here). */
export const CHECKPOINT_MESSAGE_TYPE = "RAW";
