/**
 * A request's or a response's body, or null when it is larger than `maxBytes`. Bytes are counted as they stream in
 * and reading stops at the limit (the rest is cancelled), so a chunked body without Content-Length cannot make the
 * Worker hold more than the limit; a declared Content-Length over the limit is refused unread.
 */
export async function readLimited(message: Pick<Request, "body" | "headers">, maxBytes: number): Promise<Uint8Array | null> {
  const declared = Number(message.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await message.body?.cancel().catch(() => undefined);
    return null;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (message.body) {
    const reader = message.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(value);
    }
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
