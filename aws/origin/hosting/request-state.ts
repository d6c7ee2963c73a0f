import { createRequestStateCodec, type RequestStateCodec, type ServerContext } from "@modelcontextprotocol/server";
import { withAnswerWithin } from "../../../contract/answer-within.ts";

/**
 * What the origin keeps in an `input_required` result's `requestState`. It travels through the client, so it
 * is HMAC-sealed, expires, and is bound to the method, the user and the server it was minted for: a state
 * minted for one user's call is refused in anyone else's, or in another method.
 */
export interface ForwardState {
  /** The request it continues: method and `params.name` or `params.uri`. */
  t: string;
  /** A parked exchange on this origin (2025-era upstream that asked mid-call). */
  x?: string;
  /** Which round of the exchange it continues: an earlier round's state is refused. */
  n?: number;
  /** The upstream's own requestState, echoed back to it (2026-07-28 upstream). */
  u?: string;
  /** The gateway's own approval question (policy require_approval): arguments hash, single-use nonce, expiry (ms). */
  ap?: { h: string; n: string; e: number };
  /**
   * A later round of a call the user approved: the approved arguments' hash and a single-use nonce, so that the
   * continuation runs that one call with those arguments, once, and cannot be replayed as a standing approval.
   */
  g?: { h: string; n: string };
  /**
   * A later round of a call counted against the policy's `limit` rules: a single-use nonce. The first round sent with
   * it counts nothing; the same round sent again is counted as a new call, since the upstream runs it again.
   */
  l?: string;
}

/** The caller the edge vouched for, handed to the SDK as the request's auth info. */
export interface CallerExtra extends Record<string, unknown> {
  sub: string;
  server: string;
}

export interface ForwardStateCodec extends RequestStateCodec<ForwardState> {
  /** How long a minted state opens: `relay.inputWaitSeconds`. */
  readonly ttlMs: number;
}

export function createForwardStateCodec(key: string, ttlSeconds: number): ForwardStateCodec {
  return { ...createRequestStateCodec<ForwardState>({ key, ttlSeconds, bind: bindingOf }), ttlMs: ttlSeconds * 1000 };
}

/** The most the announced wait falls short of the kept one: a window's trip to the client and the answer's back. */
const ANSWER_MARGIN_MS = 5_000;

/**
 * How long a client is told its answers are waited for when the origin keeps the question `keptMs` from now: less, by
 * 5 s (a tenth of a short window): the client counts from when the result reaches it, through the edge, and its
 * answer still has to travel back, so an answer given at the end of the announced window must find the question
 * still kept.
 */
export const announcedWithinMs = (keptMs: number): number => keptMs - Math.min(ANSWER_MARGIN_MS, keptMs / 10);

/**
 * An `input_required` result as it leaves the origin: its state sealed, and the time its answers are waited for
 * (contract/answer-within.ts): the state's lifetime, or `withinMs` when the question lapses sooner, less the margin
 * of `announcedWithinMs`.
 */
export async function sealInputRequired(
  result: Record<string, unknown>,
  codec: ForwardStateCodec,
  state: ForwardState,
  ctx: ServerContext,
  withinMs = codec.ttlMs,
): Promise<Record<string, unknown>> {
  const sealed = { ...result, requestState: await codec.mint(state, ctx) };
  return withAnswerWithin(sealed, announcedWithinMs(Math.min(withinMs, codec.ttlMs)));
}

function bindingOf(ctx: ServerContext): string {
  const caller = ctx.http?.authInfo?.extra as CallerExtra | undefined;
  return [ctx.mcpReq.method, caller?.sub ?? "", caller?.server ?? ""].join("\u0000");
}

/** The part of a request a retry must repeat: its method and the tool, prompt or resource it names. */
export function targetOf(method: string, params: Record<string, unknown> | undefined): string {
  const name = params?.name ?? params?.uri;
  return `${method} ${typeof name === "string" ? name : ""}`;
}
