/**
 * A UUID derived from `parts` (RFC 9562 version 8, from SHA-256): the same parts always give the same id, other parts
 * another. For an event sent again after a failure that may have been no failure, so that the origin, which stores an
 * id once, stores it once.
 */
export async function derivedUuid(...parts: readonly (string | number)[]): Promise<string> {
  const text = parts.map(String).join("\u0000");
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).slice(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
