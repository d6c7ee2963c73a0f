import type { JSONRPCRequest } from "@modelcontextprotocol/server";
import { answerDirectly, CancelledByClient, type DirectAnswer, isDirectAnswer } from "../../worker/mcp/bridge/direct-answer.ts";
import type { OriginLink } from "../../worker/mcp/bridge/origin-exchange.ts";
import { claimsOf, type SessionIdentity, type SessionRecord } from "../../worker/mcp/bridge/session-record.ts";
import type { Prefetched } from "../../worker/mcp/bridge/session-server.ts";

/** How long an exchange begun on the short way waits for the session server to take it over. */
const PREFETCH_TAKEOVER_MS = 60_000;

/**
 * The requests of a 2025-era session not answered yet, by id, wherever they are: with the session server, on the short
 * way (worker/mcp/bridge/direct-answer.ts), or begun on the short way and waiting for the session server to take them
 * over. MCP keeps ids unique within a session: the session keys answers, progress and cancellations by them.
 */
export class OpenRequests {
  /** Requests the session server works on, by id, until their answer is sent. */
  readonly #open = new Set<string | number>();
  /** Requests on the short way, by id, waiting for the origin (a cancellation aborts them). */
  readonly #direct = new Map<string | number, AbortController>();
  /** Exchanges begun on the short way that the session server takes over, by request id. */
  readonly #prefetched = new Map<string | number, { exchange: Prefetched; expiry: ReturnType<typeof setTimeout> }>();

  /** Nothing of the session is still worked on by the session server. */
  get none(): boolean {
    return this.#open.size === 0;
  }

  /**
   * Nothing of the session is worked on anywhere: no request with the session server, on the short way, or between.
   * Its user's registry asks this (McpSession.inFlight) before it ends the session past `sessionsPerUser`.
   */
  get idle(): boolean {
    return this.#open.size === 0 && this.#direct.size === 0 && this.#prefetched.size === 0;
  }

  /** The requests the session server works on now (their answers go out on its transport). */
  get withServer(): (string | number)[] {
    return [...this.#open];
  }

  /** How many requests are worked on now, by the session server or on the short way. */
  get count(): number {
    return this.#open.size + this.#direct.size;
  }

  /** The session server works on these requests now. */
  open(ids: (string | number)[]): void {
    for (const id of ids) this.#open.add(id);
  }

  /** An answer sent ends its request's work. */
  answered(id: string | number): void {
    this.#open.delete(id);
  }

  /** Refused by the transport: nothing of the request goes on, and its id is free again. */
  refused(id: string | number): void {
    this.#open.delete(id);
    this.takePrefetched(id)?.abort("the request was refused");
  }

  /** The client cancelled request `id`: one on the short way stops waiting for the origin. */
  cancel(id: string | number, reason: unknown): void {
    this.#direct.get(id)?.abort(new CancelledByClient(reason));
  }

  /**
   * The first of `ids` that an unanswered request of this session holds already (or that the body names twice): the
   * session keys answers, progress and cancellations by id, so a second request under it would take the first one's
   * (its cancellation would stop neither).
   */
  reusedId(ids: (string | number)[]): string | number | undefined {
    const seen = new Set<string | number>();
    for (const id of ids) {
      if (seen.has(id) || this.#open.has(id) || this.#direct.has(id) || this.#prefetched.has(id)) return id;
      seen.add(id);
    }
    return undefined;
  }

  /**
   * The short way for a plain request (worker/mcp/bridge/direct-answer.ts): the client's JSON answer, or undefined
   * once the exchange begun is left for the session server to take over. Signed for `caller`, else the record's user.
   */
  async answerDirectly(
    origin: OriginLink,
    record: SessionRecord,
    caller: SessionIdentity | undefined,
    request: JSONRPCRequest,
  ): Promise<DirectAnswer | undefined> {
    const controller = new AbortController();
    this.#direct.set(request.id, controller);
    try {
      const answered = await answerDirectly(origin, record, claimsOf(caller ?? record.identity), request, controller);
      if (isDirectAnswer(answered)) return answered;
      // Taken at once by the session server; if the transport refused the request instead, nothing must dangle.
      const expiry = setTimeout(() => {
        if (this.#prefetched.get(request.id)?.exchange !== answered) return;
        this.#prefetched.delete(request.id);
        answered.abort("the request was not taken over");
      }, PREFETCH_TAKEOVER_MS);
      this.#prefetched.set(request.id, { exchange: answered, expiry });
      return undefined;
    } finally {
      this.#direct.delete(request.id);
    }
  }

  /** Where the origin routed the exchange begun for request `id` (read once its answer has begun), if one was begun. */
  routeOf(id: string | number): (() => string | undefined) | undefined {
    return this.#prefetched.get(id)?.exchange.route;
  }

  /** The exchange begun on the short way for request `id`, taken off the waiting list (to take it over, or give it up). */
  takePrefetched(id: string | number): Prefetched | undefined {
    const prefetched = this.#prefetched.get(id);
    this.#prefetched.delete(id);
    // A pending timer would keep the object in memory (billed) for a minute after the call.
    clearTimeout(prefetched?.expiry);
    return prefetched?.exchange;
  }

  /**
   * The session ended: the origin stops work nobody waits for any more. `reason` is what a request on the short way is
   * answered (a ProtocolError), or only why it was aborted (its client is told the answer broke off).
   */
  abortAll(reason: unknown): void {
    for (const controller of this.#direct.values()) controller.abort(reason);
    for (const { exchange, expiry } of this.#prefetched.values()) {
      clearTimeout(expiry);
      exchange.abort(reason);
    }
    this.#direct.clear();
    this.#prefetched.clear();
    this.#open.clear();
  }
}
