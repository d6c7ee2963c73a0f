/** The SDK handler's own bound on a body it reads (createMcpHandler `maxRequestBodySize`, 4 MiB by default). */
const MAX_PARSED_BYTES = 4 * 1024 * 1024;

/**
 * Reads a POST's JSON-RPC body once, for the origin's own look (is it a listen?) and for the SDK handler
 * (`parsedBody`), instead of each parsing a clone. A body that is not JSON, or larger than the handler would read,
 * is left for the handler, which answers it in the protocol's words.
 */
export async function parseRequestBody(request: Request): Promise<{ request: Request; parsedBody?: unknown }> {
  const length = Number(request.headers.get("content-length") ?? Number.NaN);
  if (request.method !== "POST" || !(length <= MAX_PARSED_BYTES)) return { request };
  const text = await request.text();
  try {
    return { request, parsedBody: JSON.parse(text) };
  } catch {
    return { request: new Request(request.url, { method: request.method, headers: request.headers, body: text }) };
  }
}
