import { ProtocolError, type ServerContext } from "@modelcontextprotocol/server";
import { INPUT_REQUIRED_METHODS, takesUrlElicitation } from "./caller-capabilities.ts";
import { type ForwardState, type ForwardStateCodec, sealInputRequired } from "./request-state.ts";
import { RelayedUpstreamError } from "./upstream-errors.ts";

type Params = Record<string, unknown>;

/** 2025-11-25's JSON-RPC error of a request that needs the user to open a link first (`data.elicitations[]`). */
export const URL_ELICITATION_REQUIRED = -32042;

/** Keys of an upstream's links among a round's input requests: the proxy's own, never sent upstream. */
export const UPSTREAM_LINK_INPUT_PREFIX = "mcp-edge/upstream-link/";

/**
 * An upstream's -32042 as the client can understand it. The hop speaks 2026-07-28, which has no -32042: the SDK's
 * server would answer a thrown one with -32603 and a message for the origin's developer, losing the links. A client
 * that declares URL-mode elicitation is asked to open each link, as the upstream asked, in an input_required round (a
 * 2025-era client gets them as `elicitation/create` from its session object); once it accepts, its retry calls the
 * upstream again, which then goes on, or asks for a link it has not asked for yet. Any other client, a link asked
 * again right after the user opened it, and a method that cannot ask, get the error with its code, message and data,
 * as from the upstream directly. Undefined when the error is not a -32042.
 */
export async function askUpstreamLinks(
  error: Error,
  method: string,
  ctx: ServerContext,
  codec: ForwardStateCodec,
  round: ForwardState,
): Promise<Params | undefined> {
  if (!(error instanceof ProtocolError) || error.code !== URL_ELICITATION_REQUIRED) return undefined;
  const asking = linkRequests(error.data, ctx);
  if (!asking || !INPUT_REQUIRED_METHODS.has(method) || !takesUrlElicitation(ctx)) {
    throw new RelayedUpstreamError(error.code, error.message, error.data);
  }
  return sealInputRequired({ resultType: "input_required", inputRequests: asking }, codec, round, ctx);
}

/**
 * The input requests that ask for the error's links, keyed by their elicitation ids; undefined when its data holds
 * none, something other than a link, or a link the client's retry has just accepted (the user is at it already).
 */
function linkRequests(data: unknown, ctx: ServerContext): Params | undefined {
  const elicitations = (data as { elicitations?: unknown } | undefined)?.elicitations;
  if (!Array.isArray(elicitations) || elicitations.length === 0) return undefined;
  const asking: Params = {};
  for (const [index, elicitation] of elicitations.entries()) {
    const { mode, url, elicitationId } = (elicitation ?? {}) as Params;
    if (mode !== "url" || typeof url !== "string") return undefined;
    const key = `${UPSTREAM_LINK_INPUT_PREFIX}${typeof elicitationId === "string" ? elicitationId : index}`;
    if (ctx.mcpReq.inputResponses?.[key] !== undefined) return undefined;
    asking[key] = { method: "elicitation/create", params: elicitation };
  }
  return asking;
}

/**
 * A retry whose user declined (or dismissed) a link the upstream asked them to open is not sent upstream: the user
 * chose not to, as a 2025-11-25 client that gets the -32042 and does not call again. Answered with the -32042 (without
 * links: the user saw them), naming the server.
 */
export function refuseDeclinedLinks(ctx: ServerContext, server: string): void {
  const answers = Object.entries(ctx.mcpReq.inputResponses ?? {}).filter(([key]) => isUpstreamLinkKey(key));
  if (answers.every(([, answer]) => (answer as { action?: unknown } | undefined)?.action === "accept")) return;
  throw new RelayedUpstreamError(
    URL_ELICITATION_REQUIRED,
    `you did not open the link server "${server}" asked you to open, so the request was not sent to it; call again to be asked again`,
  );
}

/** Whether an input request key is one of an upstream's links (answered here, never sent upstream). */
export const isUpstreamLinkKey = (key: string): boolean => key.startsWith(UPSTREAM_LINK_INPUT_PREFIX);
