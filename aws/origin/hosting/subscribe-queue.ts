import { failureText } from "./failure-text.ts";

/**
 * How many `resources/subscribe` (or `unsubscribe`) requests a 2025-era upstream is sent at once: a listen's hundreds
 * wait their turn here, rather than all reaching the upstream (a shared one, every user's) together.
 */
export const SUBSCRIBES_IN_FLIGHT = 8;

/** The upstream requests one listen's opening (or closing) needs, and how they went: its failures are logged once. */
interface Batch {
  on: boolean;
  uris: string[];
  /** The next of `uris` to send. */
  next: number;
  /** Those of `uris` not to send after all: the opposite request for the URI came before this one was sent. */
  dropped: Set<string>;
  unanswered: number;
  failed: number;
  firstFailure?: string;
}

/**
 * The `resources/subscribe` and `unsubscribe` requests of a 2025-era upstream's listens, sent a few at a time and
 * users in turn: one request of each user's oldest listen, then the next user's, so one user's listen of a thousand
 * URIs on a shared server does not keep another user's one URI waiting behind it (s23 hunt isolation N3). A URI has at
 * most one request waiting: an unsubscribe that finds its subscribe not yet sent (or the other way round) drops both,
 * so no user's turn can send a URI's unsubscribe before its subscribe.
 */
export class SubscribeQueue {
  private readonly send: (uri: string, on: boolean) => Promise<unknown>;
  private readonly log: (line: string) => void;
  /** Each user's batches, oldest first; the map's order is the users' turn (the next to send first). */
  private readonly queues = new Map<string, Batch[]>();
  /** For each URI with a request still to send, its batch. */
  private readonly waiting = new Map<string, Batch>();
  private inFlight = 0;

  constructor(send: (uri: string, on: boolean) => Promise<unknown>, log: (line: string) => void) {
    this.send = send;
    this.log = log;
  }

  /** Queues the requests that subscribe (`on`) or unsubscribe these URIs, for a listen of `user`'s. */
  add(user: string, uris: string[], on: boolean): void {
    const batch: Batch = { on, uris: [], next: 0, dropped: new Set(), unanswered: 0, failed: 0 };
    for (const uri of uris) {
      const opposite = this.waiting.get(uri);
      if (opposite && opposite.on !== on) {
        this.waiting.delete(uri);
        opposite.dropped.add(uri);
        continue;
      }
      batch.uris.push(uri);
      this.waiting.set(uri, batch);
    }
    if (batch.uris.length === 0) return;
    batch.unanswered = batch.uris.length;
    const queue = this.queues.get(user);
    if (queue) queue.push(batch);
    else this.firstInTurn(user, [batch]);
    this.sendQueued();
  }

  /** A user with nothing waiting yet takes the next turn, ahead of those who had one already. */
  private firstInTurn(user: string, queue: Batch[]): void {
    const others = [...this.queues];
    this.queues.clear();
    this.queues.set(user, queue);
    for (const [other, theirs] of others) this.queues.set(other, theirs);
  }

  /** Forgets every request not sent yet (the connection is closing). */
  close(): void {
    this.queues.clear();
    this.waiting.clear();
  }

  /** Sends queued requests while fewer than `SUBSCRIBES_IN_FLIGHT` are unanswered. */
  private sendQueued(): void {
    while (this.inFlight < SUBSCRIBES_IN_FLIGHT) {
      const next = this.takeNext();
      if (!next) return;
      const [batch, uri] = next;
      if (this.waiting.get(uri) === batch) this.waiting.delete(uri);
      this.inFlight++;
      this.send(uri, batch.on)
        .catch((error: unknown) => {
          batch.failed++;
          batch.firstFailure ??= failureText(error);
        })
        .finally(() => {
          this.inFlight--;
          this.answered(batch);
          this.sendQueued();
        });
    }
  }

  /** The next request to send: the next URI of the oldest batch of the user whose turn it is. */
  private takeNext(): [Batch, string] | undefined {
    for (const [user, queue] of this.queues) {
      // The user's turn is taken: to the back of the turns, or out of them with nothing left to send.
      this.queues.delete(user);
      const request = this.takeFrom(queue);
      if (queue.length > 0) this.queues.set(user, queue);
      if (request) return request;
    }
    return undefined;
  }

  /** The next request of one user's batches that is still to be sent (undefined: none is, the queue is empty). */
  private takeFrom(queue: Batch[]): [Batch, string] | undefined {
    for (let batch = queue[0]; batch; batch = queue[0]) {
      const uri = batch.uris[batch.next++] as string;
      if (batch.next === batch.uris.length) queue.shift();
      if (!batch.dropped.has(uri)) return [batch, uri];
      this.answered(batch);
    }
    return undefined;
  }

  private answered(batch: Batch): void {
    if (--batch.unanswered === 0 && batch.failed > 0) this.logFailures(batch);
  }

  /** One line per listen, however many of its URIs failed: the first failure says why. */
  private logFailures(batch: Batch): void {
    const method = `resources/${batch.on ? "" : "un"}subscribe`;
    this.log(`${method} failed upstream for ${batch.failed} of ${batch.uris.length} resources: ${batch.firstFailure}`);
  }
}
