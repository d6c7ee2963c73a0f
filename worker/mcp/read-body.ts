import { readLimited } from "../http/read-limited.ts";

/** Larger request bodies are refused before they are read whole (the SDKs cap messages at 4 MB too). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * An MCP request's body as text with its size in bytes (none for a GET or DELETE), or null when it is larger than
 * allowed (counted while it streams in).
 */
/** The size a request declares (`Content-Length`), for the audit of a body too large to read; none when not declared. */
export function declaredBytes(request: Request): number | undefined {
  const declared = request.headers.get("content-length");
  return declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : undefined;
}

export async function readBody(request: Request): Promise<{ text: string | undefined; bytes: number } | null> {
  if (request.method !== "POST") return { text: undefined, bytes: 0 };
  const raw = await readLimited(request, MAX_REQUEST_BYTES);
  return raw && { text: new TextDecoder().decode(raw), bytes: raw.byteLength };
}
