import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from "@aws-sdk/client-kms";

/** A data key: its plaintext (used, then dropped) and its encrypted form (stored beside what it sealed). */
export interface DataKey {
  plaintext: Buffer;
  wrapped: Buffer;
}

/** Makes data keys and opens wrapped ones: AWS KMS in production, a local key-encryption key for `npm start`. */
export interface KeyWrapper {
  /** What wraps the keys, for logs (never key material). */
  readonly describe: string;
  newDataKey(context: Record<string, string>): Promise<DataKey>;
  unwrap(wrapped: Buffer, context: Record<string, string>): Promise<Buffer>;
}

/**
 * KMS wraps: GenerateDataKey (AES_256) and Decrypt, with the row's identity as KMS encryption context, so a wrapped key
 * copied onto another row does not decrypt there (and CloudTrail names whose token was opened).
 */
export function kmsKeyWrapper(client: KMSClient, keyId: string): KeyWrapper {
  return {
    describe: `AWS KMS key ${keyId}`,
    async newDataKey(context) {
      const answer = await client.send(
        new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: context }),
      );
      if (!answer.Plaintext || !answer.CiphertextBlob) throw new Error(`KMS GenerateDataKey on ${keyId} returned no key`);
      return { plaintext: Buffer.from(answer.Plaintext), wrapped: Buffer.from(answer.CiphertextBlob) };
    },
    async unwrap(wrapped, context) {
      const answer = await client.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: wrapped, EncryptionContext: context }));
      if (!answer.Plaintext) throw new Error(`KMS Decrypt on ${keyId} returned no key`);
      return Buffer.from(answer.Plaintext);
    },
  };
}

/** A local key-encryption key wraps each data key with AES-256-GCM, the context as associated data. */
export function localKeyWrapper(keyEncryptionKey: Buffer, describe = "a local key"): KeyWrapper {
  if (keyEncryptionKey.length !== 32) throw new Error("the vault's local key must be 32 bytes (upstreamVault.localKey)");
  return {
    describe,
    async newDataKey(context) {
      const plaintext = randomBytes(32);
      return { plaintext, wrapped: sealBytes(keyEncryptionKey, plaintext, contextBytes(context)) };
    },
    async unwrap(wrapped, context) {
      return openBytes(keyEncryptionKey, wrapped, contextBytes(context));
    },
  };
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM: iv ‖ ciphertext ‖ tag, with associated data that must be repeated to open it. */
export function sealBytes(key: Buffer, plaintext: Buffer, associated: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(associated);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

export function openBytes(key: Buffer, sealed: Buffer, associated: Buffer): Buffer {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv).setAAD(associated);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
}

/** The context in one canonical byte form (sorted keys), as associated data. */
export const contextBytes = (context: Record<string, string>) =>
  Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => a.localeCompare(b))));
