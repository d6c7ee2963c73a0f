import type { VerifiedAssertion } from "../trust/verify-assertion.ts";
import { HostingError, type StdioPool } from "./stdio-pool.ts";

/**
 * POST/GET/DELETE /servers/<server>/mcp: the edge relays a user's MCP exchange; this hands it to that user's
 * own upstream. The assertion must name the same server, so an assertion minted for one upstream opens no other.
 */
export async function serveMcp(
  pool: StdioPool,
  server: string,
  assertion: VerifiedAssertion,
  request: Request,
): Promise<Response> {
  if (assertion.server !== server) {
    return errorResponse(403, `the edge assertion is for server "${assertion.server ?? "(none)"}", not "${server}"`);
  }
  let acquired: Awaited<ReturnType<StdioPool["acquire"]>>;
  try {
    acquired = await pool.acquire(server, assertion.sub);
  } catch (error) {
    if (error instanceof HostingError) return errorResponse(error.status, error.message);
    throw error;
  }
  try {
    return releaseWhenDone(await acquired.host.handler.fetch(request), acquired.release);
  } catch (error) {
    acquired.release();
    throw error;
  }
}

/** Keeps the host busy while a streamed response is still being read, and frees it when the stream ends or is cancelled. */
function releaseWhenDone(response: Response, release: () => void): Response {
  if (!response.body) {
    release();
    return response;
  }
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read().catch((error: unknown) => {
        release();
        throw error;
      });
      if (done) {
        release();
        controller.close();
      } else controller.enqueue(value);
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
  return new Response(body, response);
}

const errorResponse = (status: number, message: string) =>
  Response.json({ jsonrpc: "2.0", id: null, error: { code: -32000, message } }, { status });
