/** The SDK handler's own bound on a body it reads (createMcpHandler `maxRequestBodySize`, 4 MiB by default). */
const MAX_PARSED_BYTES = 4 * 1024 * 1024;

/**
 * Reads a POST's JSON-RPC body once, for the origin's own look (a listen's resource subscriptions, which the policy may
 * drop) and for the SDK handler (`parsedBody`), instead of each parsing a clone; a body without a `Content-Length` too,
 * read up to the handler's bound. A body that is not JSON, or larger than the handler would read, is left for the
 * handler, which answers it in the protocol's words.
 */
export async function parseRequestBody(request: Request): Promise<{ request: Request; parsedBody?: unknown }> {
  const declared = request.headers.get("content-length");
  if (request.method !== "POST" || !request.body || Number(declared ?? 0) > MAX_PARSED_BYTES) return { request };
  const read = await readUpTo(request.body, MAX_PARSED_BYTES);
  const text = new TextDecoder().decode(concat(read.chunks));
  if (read.rest) {
    // Over the bound: the handler gets every byte, read or not, and refuses the body as too large.
    return { request: withBody(request, streamOf(read.chunks, read.rest)) };
  }
  try {
    return { request, parsedBody: JSON.parse(text) };
  } catch {
    return { request: withBody(request, text) };
  }
}

/** Chunks up to `limit` bytes; `rest` holds the reader of what is left when the body is longer. */
async function readUpTo(body: ReadableStream<Uint8Array>, limit: number) {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { chunks };
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) return { chunks, rest: reader };
  }
}

const concat = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks);

function streamOf(read: readonly Uint8Array[], rest: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  const pending = [...read];
  return new ReadableStream({
    async pull(controller) {
      const next = pending.shift() ?? (await rest.read()).value;
      if (next) controller.enqueue(next);
      else controller.close();
    },
    cancel: (reason) => rest.cancel(reason),
  });
}

function withBody(request: Request, body: BodyInit): Request {
  const headers = new Headers(request.headers);
  return new Request(request.url, {
    method: request.method,
    headers,
    body,
    signal: request.signal,
    duplex: "half",
  } as RequestInit);
}
