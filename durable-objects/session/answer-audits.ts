import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { outcomeOfAnswer } from "../../contract/answer-outcome.ts";
import { utf8Length } from "../../contract/audit-event.ts";
import { type AuditFacts, fitForQueue, recordAudit, redactedForHolding } from "../../worker/audit/record.ts";
import { completedAudit, type RequestAudit } from "../../worker/audit/request-audit.ts";
import { edgeConfig } from "../../worker/config.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { reroutedAudit } from "../../worker/mcp/audited-target.ts";
import { HELD_AUDIT_CHECK_MS, type HeldAudit, HeldAudits } from "../../worker/mcp/bridge/held-audits.ts";
import type { Observation } from "../../worker/mcp/observe-response.ts";

/** An answer the transport of a 2025-era session sent, and whether it was the session's own failure. */
export interface SentAnswer {
  message: JSONRPCMessage;
  unavailable: boolean;
}

/** How a 2025-era request ended that the session gave up before its answer (it ended). */
const GIVEN_UP: Observation = { outcome: "cancelled", responseBytes: 0 };

/**
 * The audits a session object records itself, at the answer it sends, instead of the Worker at its response: a
 * 2024-11-05 request's answer travels later on the session's stream, and a 2025-era request's stream may break and be
 * resumed while the request goes on. Each audit is held in storage (HeldAudits) until its event is queued, so that a
 * restart of the object does not lose it: the alarm then records what is left behind (recordLeftBehind).
 */
export class AnswerAudits {
  readonly #ctx: DurableObjectState;
  /** Read at each use: the object's env, as it is then. */
  readonly #env: () => EdgeEnv;
  readonly #held: HeldAudits;
  /**
   * Held audits their own requests are recording now (answered, on their way to the queue): not the alarm's. Each
   * with its recording, settled once its event was queued or refused.
   */
  readonly #recording = new Map<string, Promise<unknown>>();
  /**
   * A 2025-era session's requests the session server answers (over SSE), by id: each takes its answer once the
   * transport sends it, for the audit, or undefined when the request was given up (the session ended).
   */
  readonly #answering = new Map<string | number, (answer: SentAnswer | undefined) => void>();
  /** Requests of a 2025-era session the session server answers with its own failure (see auditAtAnswer), by id. */
  readonly #unavailable = new Set<string | number>();

  constructor(ctx: DurableObjectState, env: () => EdgeEnv) {
    this.#ctx = ctx;
    this.#env = env;
    this.#held = new HeldAudits(ctx.storage);
  }

  /** The answer the transport sends to request `id`, or undefined if the request is given up first. */
  answerOf(id: string | number): Promise<SentAnswer | undefined> {
    this.#answering.get(id)?.(undefined);
    return new Promise((resolve) => this.#answering.set(id, resolve));
  }

  /** The session server answers request `id` with its own failure (origin unreachable, its answer broken off). */
  unavailable(id: string | number): void {
    this.#unavailable.add(id);
  }

  /** The transport sent `message`, the answer to request `id`. */
  sent(id: string | number, message: JSONRPCMessage): void {
    const unavailable = this.#unavailable.delete(id);
    this.#answering.get(id)?.({ message, unavailable });
    this.#answering.delete(id);
  }

  /** The transport refused request `id`: no answer of it is awaited. */
  refused(id: string | number): void {
    this.#answering.delete(id);
  }

  /** The session ended: every answer still awaited is given up. */
  giveUpAll(): void {
    this.#unavailable.clear();
    for (const givenUp of this.#answering.values()) givenUp(undefined);
    this.#answering.clear();
  }

  /**
   * Audits a 2025-era request by the answer the session object sends, not by the client's stream: a stream that breaks
   * is no cancellation in a 2025 session (the client resumes it with Last-Event-ID, and the request goes on), so its
   * answer is the request's outcome. A request given up without one (the session ended) is cancelled. The audit is held
   * in storage meanwhile, as a 2024-11-05 session's are: after a restart the alarm records it without an answer.
   */
  auditAtAnswer(audit: RequestAudit, answer: Promise<SentAnswer | undefined>, route?: () => string | undefined): void {
    const held = this.hold(audit);
    this.#checkSoon();
    // The session's own failure answers (origin unreachable, its answer broken off) are `unavailable`, as for a
    // 2026-07-28 client, not `error` under the -32000 an upstream's own errors carry too.
    const observed = ({ message, unavailable }: SentAnswer): Observation =>
      unavailable ? { ...observationOf(message), outcome: "unavailable" } : observationOf(message);
    this.#record(
      held,
      answer.then((sent) => {
        const servers = edgeConfig(this.#env()).servers;
        return completedAudit(reroutedAudit(audit, route?.(), servers), 200, sent ? observed(sent) : GIVEN_UP);
      }),
    );
  }

  /** Keeps `audit` (redacted, fitted for the queue) in storage until its event is queued, or `release`. */
  hold(audit: RequestAudit): HeldAudit {
    return this.#held.hold(fitForQueue(redactedForHolding(audit, this.#env())));
  }

  release(held: HeldAudit): void {
    this.#held.release(held);
  }

  /**
   * Audits a 2024-11-05 request, held since it was received, once its answer has been sent on the stream (the
   * Worker's invocation ended with the 202). The alarm looks for it after a restart (recordLeftBehind).
   */
  auditAtSseAnswer(held: HeldAudit, audit: RequestAudit, answered: Promise<JSONRPCMessage | undefined>): void {
    this.#checkSoon();
    this.#record(
      held,
      answered.then((answer) => completedAudit(audit, 202, observationOf(answer))),
    );
  }

  /** Records the audit held for a request once its outcome is known; released from storage once queued. */
  #record(held: HeldAudit, outcome: Promise<AuditFacts>): void {
    const recording = {
      waitUntil: (sent: Promise<unknown>) => {
        const settled = sent.finally(() => this.#recording.delete(held.id));
        this.#recording.set(held.id, settled);
        this.#ctx.waitUntil(settled);
      },
    };
    recordAudit(this.#env(), recording, outcome, { id: held.id, queued: () => this.#held.release(held) });
  }

  /** Whether any audit is held: the alarm is then set to look for them soon. */
  get anyHeld(): boolean {
    return this.#held.any;
  }

  /** When audits are still held, the alarm looks again later; true when it will. */
  lookAgainLater(): boolean {
    if (!this.#held.any) return false;
    this.#checkSoon();
    return true;
  }

  /**
   * The alarm looks for held audits soon, in either era: a restart leaves them to it, and a 2025-era session's idle
   * alarm (a day away) would be too late. The alarm sets the idle one again once none is held (McpSession.alarm).
   */
  #checkSoon(): void {
    void this.#ctx.storage.setAlarm(Date.now() + HELD_AUDIT_CHECK_MS);
  }

  /**
   * The session ends: once this resolves, every held audit was queued (and released) or refused (and still held). The
   * given-up requests' events are on their way already (giveUpAll), those left behind by a restart are recorded now.
   */
  async settle(): Promise<void> {
    await this.recordLeftBehind();
    await Promise.all(this.#recording.values());
  }

  /** The session ends: everything of it in storage goes but its held audits (their events are not queued yet). */
  forgetAllButHeld(): void {
    this.#held.deleteAllElse();
  }

  /** Records each audit left behind by a restart as a request that ended without an answer. */
  async recordLeftBehind(): Promise<void> {
    const recorded: Promise<unknown>[] = [];
    const waitUntil = (sent: Promise<unknown>) => void recorded.push(sent);
    for (const held of this.#held.all()) {
      // Its request's answer was sent and its event is on the way: recorded "without an answer" too, under the same
      // id, whichever reached the origin first would stay.
      if (this.#recording.has(held.id)) continue;
      try {
        const lost = completedAudit(held.audit, 202, observationOf(undefined));
        recordAudit(this.#env(), { waitUntil }, lost, { id: held.id, queued: () => this.#held.release(held) });
      } catch (error) {
        // An alarm that throws is retried a few times and then dropped, leaving the object's storage for good.
        console.error(`a held audit could not be recorded and was dropped: ${String(error)}`);
        this.#held.release(held);
      }
    }
    await Promise.all(recorded);
  }
}

/** How a request ended, from the answer its stream carried (none: the stream ended first). */
function observationOf(answer: JSONRPCMessage | undefined): Observation {
  const json = answer === undefined ? undefined : JSON.stringify(answer);
  const found = json === undefined ? undefined : outcomeOfAnswer(json);
  return { ...(found ?? { outcome: "error" }), responseBytes: json === undefined ? 0 : utf8Length(json) };
}
