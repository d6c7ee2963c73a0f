import { readLimited } from "../http/read-limited.ts";

/** The request with its body buffered (read under the limit, see `readLimited`), or null when it is larger than `maxBytes`. */
export async function withLimitedBody(request: Request, maxBytes: number): Promise<Request | null> {
  const body = await readLimited(request, maxBytes);
  if (body === null) return null;
  const headers = new Headers(request.headers);
  headers.delete("transfer-encoding");
  headers.set("content-length", String(body.byteLength));
  return new Request(request.url, { method: request.method, headers, body: request.body ? body : undefined });
}
