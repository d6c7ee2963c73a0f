/**
 * One interactive request (tools/call, prompts/get, resources/read) in flight to an upstream, with the
 * server-to-client requests the upstream sent while handling it. A 2025-era upstream asks the client
 * mid-call (sampling, elicitation, roots); the edge-origin hop is 2026-07-28, which has no such channel,
 * so each ask is parked here and leaves as an input request of an `input_required` result. The client's
 * retry brings the answers back, and the upstream's call goes on where it waited.
 */

/** A server-to-client request from the upstream, waiting for the client's answer. */
export interface UpstreamAsk {
  /** The key it has in `inputRequests` / `inputResponses`. */
  key: string;
  method: string;
  params: unknown;
  answer(result: unknown): void;
  fail(error: Error): void;
}

/** Where an exchange's progress and log messages go: the request (first or retried) now holding it. */
export interface ExchangeSink {
  /** False when the request's client has stopped reading: the progress is dropped unread. */
  progress(params: { progress: number; total?: number; message?: string }): boolean;
}

export type ExchangeStep = { kind: "result"; result: unknown } | { kind: "asks"; asks: UpstreamAsk[] };

/** The client capability each server-to-client request needs. */
export const CAPABILITY_OF_ASK: Record<string, string> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** The answer a 2025-era upstream gets for a request its client cannot serve: method not found, as from the client itself. */
export class UnsupportedAsk extends Error {
  readonly code = -32601;
}

/** How long to wait after a first ask for others that come with it, so that one round carries them all. */
const GATHER_MS = 20;

export class Exchange {
  readonly id = crypto.randomUUID();
  readonly startedAt = Date.now();
  /** Set while the exchange waits for the client's retry; cleared when one arrives. */
  parkedUntil?: number;
  /** When the client's answers last reached the upstream: its idle timeout counts from there. */
  answeredAt?: number;
  /** Input rounds so far; each round's requestState names its round. */
  round = 0;
  sink?: ExchangeSink;
  /** What the client holding the exchange declared; an ask it cannot answer is refused to the upstream at once. */
  clientCapabilities?: Record<string, unknown>;
  /** The approved arguments' hash when the call needed the user's approval: every later round's state carries it. */
  approvedArguments?: string;
  /** The call counted against the policy's limits: each later round's state carries a single-use nonce. */
  counted = false;
  private readonly pending = new Map<string, UpstreamAsk>();
  /** Asks the client has not been shown yet. */
  private unsent: UpstreamAsk[] = [];
  private nextKey = 1;
  private wake?: () => void;
  private readonly outcome: Promise<ExchangeStep>;

  readonly method: string;
  /** The request's identity for binding retries: its method and `params.name` or `params.uri`. */
  readonly target: string;
  private readonly abortUpstream: (reason: string) => void;

  constructor(method: string, target: string, upstreamResult: Promise<unknown>, abortUpstream: (reason: string) => void) {
    this.method = method;
    this.target = target;
    this.abortUpstream = abortUpstream;
    this.outcome = upstreamResult.then((result) => ({ kind: "result" as const, result }));
    // The caller always races `outcome`; this keeps an unobserved rejection from crashing the process.
    this.outcome.catch(() => {});
  }

  /** Whether the upstream has asked the client something it has not had the answer to yet. */
  get waitingOnClient(): boolean {
    return this.pending.size > 0;
  }

  /**
   * Called by the upstream client's request handlers: resolves with the client's answer. A roots request the
   * client cannot answer is refused at once, as the client itself would (upstreams ask for roots on their own,
   * and heard the proxy's capabilities, which are every client's). Sampling and elicitation are what a call
   * needs: `drive` refuses the whole call with -32021, as a 2026-07-28 server would.
   */
  ask(method: string, params: unknown): Promise<unknown> {
    if (method === "roots/list" && !this.clientCapabilities?.roots)
      return Promise.reject(new UnsupportedAsk('the client does not support roots/list (no "roots" capability)'));
    return new Promise((answer, fail) => {
      const ask: UpstreamAsk = { key: `r${this.nextKey++}`, method, params, answer, fail };
      this.pending.set(ask.key, ask);
      this.unsent.push(ask);
      this.wake?.();
    });
  }

  /** Waits until the upstream answers the request, or asks the client something (gathering asks that come together). */
  async next(signal: AbortSignal): Promise<ExchangeStep> {
    const asked = new Promise<ExchangeStep>((resolve) => {
      const deliver = () => {
        this.wake = undefined;
        setTimeout(() => resolve(this.takeUnsent()), GATHER_MS);
      };
      if (this.unsent.length > 0) deliver();
      else this.wake = deliver;
    });
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(signal.reason ?? new Error("the request was cancelled"));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([this.outcome, asked, aborted]);
    } finally {
      this.wake = undefined;
    }
  }

  /** Hands the client's answers to the asks they name; asks left unanswered are shown to the client again. */
  answer(responses: Record<string, unknown>): void {
    for (const [key, ask] of this.pending) {
      if (!(key in responses)) continue;
      this.pending.delete(key);
      this.answeredAt = Date.now();
      ask.answer(responses[key]);
    }
    this.unsent = [...this.pending.values()];
  }

  /** Ends the exchange without an answer: every ask fails and the upstream request is cancelled. */
  abandon(reason: string): void {
    for (const ask of this.pending.values()) ask.fail(new Error(reason));
    this.pending.clear();
    this.unsent = [];
    this.abortUpstream(reason);
  }

  private takeUnsent(): ExchangeStep {
    const asks = this.unsent;
    this.unsent = [];
    return { kind: "asks", asks };
  }
}
