import { contextBytes, type KeyWrapper, openBytes, sealBytes } from "./key-wrapper.ts";

/** A value sealed under a data key of its own: both are stored, neither is readable without the key wrapper. */
export interface Sealed {
  wrappedKey: Buffer;
  ciphertext: Buffer;
}

/**
 * Envelope encryption of one value: a fresh data key seals it (AES-256-GCM) with `context` (the row's identity) as
 * associated data, and the key wrapper encrypts the data key under the same context. A sealed value moved to another
 * row (another user or server) fails to open.
 */
export async function sealValue(wrapper: KeyWrapper, plaintext: string, context: Record<string, string>): Promise<Sealed> {
  const key = await wrapper.newDataKey(context);
  try {
    return {
      wrappedKey: key.wrapped,
      ciphertext: sealBytes(key.plaintext, Buffer.from(plaintext, "utf8"), contextBytes(context)),
    };
  } finally {
    key.plaintext.fill(0);
  }
}

export async function openValue(wrapper: KeyWrapper, sealed: Sealed, context: Record<string, string>): Promise<string> {
  const key = await wrapper.unwrap(sealed.wrappedKey, context);
  try {
    return openBytes(key, sealed.ciphertext, contextBytes(context)).toString("utf8");
  } finally {
    key.fill(0);
  }
}

/**
 * Whether opening failed because the value was sealed under another key (or altered since), rather than because the
 * key service could not be reached: such a value will never open with this key, and asking again is the way on.
 */
export function sealedUnderAnotherKey(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === "InvalidCiphertextException" || name === "IncorrectKeyException") return true;
  return /unable to authenticate data/.test(String((error as Error | undefined)?.message));
}
