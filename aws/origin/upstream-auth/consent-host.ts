import { type AuthInfo, createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import type { ForwardStateCodec } from "../hosting/request-state.ts";
import { targetOf } from "../hosting/request-state.ts";
import { askConsent, type UpstreamConsentRequired } from "./consent.ts";

type Params = Record<string, unknown>;

/**
 * Answers one request for an upstream that cannot be connected to before the user consents (it refuses even the
 * handshake): discovery names the tools capability only (not cached: `ttlMs` 0), so a 2025-era session can start;
 * a call is answered with the consent question, anything else with -32042 and the link.
 */
export async function answerWithConsent(
  consent: UpstreamConsentRequired,
  codec: ForwardStateCodec,
  request: Request,
  parsedBody: unknown,
  authInfo: AuthInfo,
): Promise<Response> {
  const server = new McpServer(
    { name: consent.server, version: "awaiting-your-consent" },
    {
      capabilities: { tools: {} },
      instructions: `Server "${consent.server}" needs you to connect your account before its tools can be listed or called.`,
      requestState: { verify: codec.verify },
    },
  );
  const ask = (method: string) => (request: { params?: Params }, ctx: Parameters<typeof askConsent>[2]) =>
    askConsent(consent, method, ctx, codec, { t: targetOf(method, request.params) }) as Promise<never>;
  server.server.setRequestHandler("tools/list", ask("tools/list") as never);
  server.server.setRequestHandler("tools/call", ask("tools/call") as never);
  const handler = createMcpHandler(() => server, { legacy: "reject" });
  try {
    return await handler.fetch(request, { authInfo, parsedBody });
  } finally {
    await handler.close();
  }
}
