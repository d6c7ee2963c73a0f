import { JSON_RPC, jsonRpcError } from "./json-rpc-error.ts";

/** What a client whose session is not found does next: a 2025-era client initializes, a 2024-11-05 one reconnects. */
export type SessionNotFoundAdvice = "initialize a new session" | "open a new SSE stream";

/**
 * The answer to a request of a session that is not there for its caller (another user's, unknown, malformed or ended).
 * The Worker and the session object both give it: one answer, so that a client reacts the same whichever refused it.
 */
export const sessionNotFound = (next: SessionNotFoundAdvice, id?: string | number) =>
  jsonRpcError(404, id, JSON_RPC.sessionNotFound, `Session not found: ${next}`);
