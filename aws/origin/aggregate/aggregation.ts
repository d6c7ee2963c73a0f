import { ANSWER_ROUTE_HEADER, formatAnswerRoute } from "../../../contract/answer-outcome.ts";
import type { AskServer } from "./fan-out.ts";
import { answerWithin, LeftOut, requestFor, UnsendableRequest, within } from "./fan-out.ts";
import type { Params, RpcRequest } from "./messages.ts";

/** Told of a server left out of an answer, so that it is logged and audited. */
export type LeftOutReport = (server: string, method: string, reason: string) => void;

/** One request to the aggregated endpoint: the servers the user may use, and how to ask them. */
export class Aggregation {
  readonly message: RpcRequest;
  /** The servers this user may use, in configuration order. */
  readonly permitted: readonly string[];
  /** Every configured server (a name of one the user may not use is answered as unknown, but audited as refused). */
  readonly allServers: readonly string[];
  /** Permitted servers whose prompts and resources the user may not see (policy: some of its tools only). */
  readonly contentsWithheld: readonly string[];
  readonly #request: Request;
  readonly #ask: AskServer;
  readonly #timeoutMs: number;
  readonly #report: LeftOutReport;
  /** Per server, what gives up its requests once it is left out for lateness (the client's going away does too). */
  readonly #gaveUp = new Map<string, AbortController>();

  constructor(options: {
    message: RpcRequest;
    request: Request;
    permitted: readonly string[];
    allServers: readonly string[];
    contentsWithheld?: readonly string[];
    ask: AskServer;
    timeoutMs: number;
    report: LeftOutReport;
  }) {
    this.message = options.message;
    this.permitted = options.permitted;
    this.allServers = options.allServers;
    this.contentsWithheld = options.contentsWithheld ?? [];
    this.#request = options.request;
    this.#ask = options.ask;
    this.#timeoutMs = options.timeoutMs;
    this.#report = options.report;
  }

  /**
   * Relays a request to one server: its response (a stream, input_required, an error) goes back as it is, labelled
   * with where it went (the server, and the upstream's own name of a tool or prompt) for the edge's audit.
   */
  async forward(server: string, params: Params): Promise<Response> {
    const response = await this.#ask(server, requestFor(this.#request, this.message, this.message.method, params));
    const labelled = new Response(response.body, response);
    const name = typeof params.name === "string" ? params.name : undefined;
    labelled.headers.set(ANSWER_ROUTE_HEADER, formatAnswerRoute({ server, name }));
    return labelled;
  }

  /** One server's result for a method, within the per-server time limit; throws LeftOut. */
  result(server: string, method: string, params: Params): Promise<Params> {
    const request = requestFor(this.#request, this.message, method, params, this.#signalFor(server));
    return answerWithin(() => this.#ask(server, request), server, this.#timeoutMs, { giveUp: () => this.#giveUp(server) });
  }

  /**
   * Every permitted server's result for a method (`each` may ask more than once, as for pages), in configuration
   * order. A server that fails or is too slow is left out of the answer and reported, never failing the whole. The
   * time limit holds for all of a server's answers together: a server answering each of fifty pages just in time
   * would otherwise hold the whole answer for fifty limits.
   */
  async collect<T>(method: string, each: (server: string) => Promise<T>): Promise<Map<string, T>> {
    const settled = await Promise.allSettled(
      this.permitted.map((server) =>
        within(each(server), server, this.#timeoutMs, { discard: cancelIfStream, giveUp: () => this.#giveUp(server) }),
      ),
    );
    const results = new Map<string, T>();
    // A request no server can be sent is refused whole, not answered with every server left out.
    const unsendable = settled.find((outcome) => outcome.status === "rejected" && outcome.reason instanceof UnsendableRequest);
    if (unsendable?.status === "rejected") throw unsendable.reason;
    settled.forEach((outcome, index) => {
      const server = this.permitted[index] as string;
      if (outcome.status === "fulfilled") results.set(server, outcome.value);
      else this.#report(server, method, outcome.reason instanceof LeftOut ? outcome.reason.message : String(outcome.reason));
    });
    return results;
  }

  /** What a request to `server` is given up with: the client's request, or the server being left out as too late. */
  #signalFor(server: string): AbortSignal {
    let gaveUp = this.#gaveUp.get(server);
    if (!gaveUp) {
      gaveUp = new AbortController();
      this.#gaveUp.set(server, gaveUp);
    }
    return AbortSignal.any([this.#request.signal, gaveUp.signal]);
  }

  #giveUp(server: string): void {
    this.#gaveUp.get(server)?.abort(new LeftOut(server, "left out: it answered too late"));
  }
}

/** A late answer that is a stream (a listen) is cancelled: unread, it would hold its server's connection for good. */
function cancelIfStream(late: unknown): void {
  if (late instanceof ReadableStream) void late.cancel("left out: it answered too late").catch(() => {});
}
