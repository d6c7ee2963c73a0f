import { POLICY_DENIED_CODE } from "../../contract/config/policy.ts";
import { DeclarationRefused, DescriptionTooLarge, discoverUpstream, RefusedByPolicy } from "../../worker/mcp/bridge/discover.ts";
import type { OriginLink } from "../../worker/mcp/bridge/origin-exchange.ts";
import {
  clientOf,
  MAX_KEPT_CLIENT_CHARS,
  type SessionIdentity,
  type SessionRecord,
} from "../../worker/mcp/bridge/session-record.ts";
import { JSON_RPC, jsonRpcError } from "../../worker/mcp/json-rpc-error.ts";
import { AssertionTooLarge } from "../../worker/upstream/sign-assertion.ts";
import type { InitializeMessage } from "./messages.ts";

/**
 * A new session's record, from the client's `initialize` and the upstream's discovery; or the error to answer
 * the client with when the upstream cannot be discovered.
 */
export async function newRecord(
  origin: OriginLink,
  caller: SessionIdentity,
  sessionId: string,
  initialize: InitializeMessage,
): Promise<SessionRecord | Response> {
  if (typeof initialize.params !== "object" || initialize.params === null) {
    const message = "initialize needs params: the client's protocolVersion, capabilities and clientInfo";
    return jsonRpcError(400, initialize.id, JSON_RPC.invalidParams, message);
  }
  const size = JSON.stringify(initialize.params).length;
  if (size > MAX_KEPT_CLIENT_CHARS.initialize) {
    const message = `initialize params of ${size} characters are more than a session keeps (${MAX_KEPT_CLIENT_CHARS.initialize})`;
    return jsonRpcError(400, initialize.id, JSON_RPC.invalidParams, message);
  }
  const client = clientOf(initialize.params);
  try {
    const discover = await discoverUpstream(origin, caller, client);
    return {
      sessionId,
      identity: caller,
      initialize: initialize.params,
      client: { protocolVersion: String(initialize.params.protocolVersion ?? ""), ...client },
      discover,
      subscriptions: [],
      createdAt: Date.now(),
    };
  } catch (error) {
    return discoveryFailure(error, caller.server, initialize.id);
  }
}

/** The answer to an `initialize` whose upstream could not be discovered. */
function discoveryFailure(error: unknown, server: string, id: string | number): Response {
  // Refused, not unavailable: the client (and the audit: `denied`) hears it as a 2026-07-28 client does.
  if (error instanceof RefusedByPolicy) return jsonRpcError(403, id, POLICY_DENIED_CODE, error.refusal);
  // The client's own declaration (clientInfo, capabilities) is malformed: its error, not the server's, and not logged.
  if (error instanceof DeclarationRefused) return jsonRpcError(400, id, JSON_RPC.invalidParams, `initialize: ${error.refusal}`);
  // The origin's error may quote the upstream, which may have echoed the request (credentials, the user's identity
  // and arguments): the edge logs its code only; the origin's own log says why.
  const failure = String(error).replace(/^(Error: server\/discover answered -?\d+):[\s\S]*$/, "$1");
  console.error(`server/discover failed for server ${server}: ${failure}`);
  // No retry helps either: the client is told what to ask an administrator for.
  if (error instanceof AssertionTooLarge) return jsonRpcError(500, id, JSON_RPC.internalError, error.message);
  if (error instanceof DescriptionTooLarge) return jsonRpcError(502, id, JSON_RPC.upstreamUnavailable, error.message);
  return jsonRpcError(502, id, JSON_RPC.upstreamUnavailable, `server "${server}" is unavailable`);
}
