import { CONSENT_NEEDED_CODE } from "../upstream-auth/consent.ts";
import type { Params, RpcAnswer, RpcRequest } from "./messages.ts";
import { readAnswer } from "./messages.ts";

/** Sends one 2026-07-28 request to one server's endpoint, as the user, and returns its response. */
export type AskServer = (server: string, request: Request) => Promise<Response>;

/**
 * The same request to another server, with its own method, params and `Mcp-Name` (the other headers are the client's),
 * given up with the client's (or when `signal` says so).
 */
export function requestFor(
  original: Request,
  message: RpcRequest,
  method: string,
  params: Params,
  signal: AbortSignal = original.signal,
): Request {
  const body = serialized({ jsonrpc: "2.0", id: message.id, method, params });
  const headers = new Headers(original.headers);
  // Its own length, as the edge sends one: the server's endpoint reads a body of known length itself (a listen's
  // resource subscriptions are watched from it), and would leave one without to the SDK.
  headers.set("content-length", String(new TextEncoder().encode(body).byteLength));
  headers.set("mcp-method", method);
  const name = params.name ?? params.uri;
  if (typeof name === "string") headers.set("mcp-name", mcpHeaderValue(name));
  else headers.delete("mcp-name");
  return new Request(original.url, { method: "POST", headers, body, signal });
}

/**
 * A request the aggregated endpoint cannot send on: JSON.parse takes any nesting, but JSON.stringify recurses and
 * overflows the stack on arguments nested some thousands deep. The edge refuses those (past 256 levels); one that
 * comes another way (an edge assertion's holder) is the client's error, answered -32600, not the origin's 500.
 */
export class UnsendableRequest extends Error {
  constructor(cause: unknown) {
    super(`the request cannot be sent on to a server: ${(cause as Error)?.message ?? String(cause)} (it nests too deep)`);
    this.name = "UnsendableRequest";
  }
}

function serialized(message: object): string {
  try {
    return JSON.stringify(message);
  } catch (error) {
    throw new UnsendableRequest(error);
  }
}

/**
 * A name or URI as an `Mcp-Name` value (2026-07-28 value encoding): as it is when it is printable ASCII without
 * spaces at its ends, else `=?base64?<UTF-8 in base64>?=`. A header cannot hold other characters at all (`搜索`
 * made the request throw), and its ends are trimmed. The SDK's own encoder is not exported.
 */
export function mcpHeaderValue(value: string): string {
  const plain = /^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$/.test(value) && !/^=\?base64\?.*\?=$/.test(value);
  return plain ? value : `=?base64?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

/** Why a server was left out of an answer. */
export class LeftOut extends Error {
  readonly server: string;
  /** The JSON-RPC error the server answered with, if it answered one. */
  readonly code?: number;
  constructor(server: string, reason: string, code?: number) {
    super(reason);
    this.name = "LeftOut";
    this.server = server;
    this.code = code;
  }
}

/**
 * Asks one server and reads its answer within the per-server time limit. A server that fails, answers an error or
 * is too slow is reported as left out; the caller goes on without it.
 */
export async function answerWithin(
  ask: () => Promise<Response>,
  server: string,
  timeoutMs: number,
  late: Late<RpcAnswer> = {},
): Promise<Params> {
  try {
    const answer: RpcAnswer = await within(ask().then(readAnswer), server, timeoutMs, late);
    if (answer.error) throw new LeftOut(server, reasonOf(answer.error), answer.error.code);
    return answer.result ?? {};
  } catch (error) {
    throw error instanceof LeftOut ? error : new LeftOut(server, (error as Error).message);
  }
}

/**
 * A server's error as the origin's log and audit give it: a consent error's message holds the user's single-use
 * authorization link, which is theirs alone.
 */
const reasonOf = (error: { code: number; message: string }): string =>
  error.code === CONSENT_NEEDED_CODE
    ? `it answered error ${error.code}: the user has not connected their account there yet`
    : `it answered error ${error.code}: ${error.message}`;

/** What becomes of work given up for lateness: `giveUp` stops it, what it gives anyway goes to `discard`. */
export interface Late<T> {
  giveUp?: () => void;
  discard?: (late: T) => void;
}

/**
 * What `work` gives, or LeftOut once `timeoutMs` has passed. The work is then no longer waited for: `giveUp` stops it
 * (the server's request is aborted, so it does not work on for nobody); what it gives later goes to `discard` (a
 * listen's stream arriving late is cancelled, so it holds no connection).
 */
export async function within<T>(work: Promise<T>, server: string, timeoutMs: number, late: Late<T> = {}): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      work.then(late.discard, () => {});
      late.giveUp?.();
      reject(new LeftOut(server, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, tooLate]);
  } finally {
    clearTimeout(timer);
  }
}
