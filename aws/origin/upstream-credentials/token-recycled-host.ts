import { type Caller, onBodyEnd, type UpstreamHost } from "../hosting/upstream-host.ts";

/** One child and the expiry of the credential it was started with. */
export interface Generation {
  host: UpstreamHost;
  expiresAt: number;
}

interface Running extends Generation {
  inflight: number;
  retired: boolean;
}

export interface RecycledHostParts {
  /** Starts a child with a credential fresh enough to live a while. */
  start: () => Promise<Generation>;
  /** Whether a child started with a credential expiring then must give way to a new one before the next request. */
  needsRenewal: (expiresAt: number) => boolean;
  /** Whether that credential is still good for a call's retry: a child holding a parked call is kept while it is. */
  stillValid: (expiresAt: number) => boolean;
  /** The JSON-RPC error a request gets when no new child could be started (the message says what to fix). */
  refused: (error: unknown) => { code: number; message: string };
}

/**
 * A user's stdio upstream whose credential was handed to the child at spawn (its environment cannot change later).
 * When the credential nears expiry, the next request starts a new child with a fresh one and goes there (unless a call
 * parked on its user's answer waits in the old child: then once it is answered); the old child finishes the requests
 * it is serving (a `subscriptions/listen` stream included) and is then stopped.
 */
export async function tokenRecycledHost(parts: RecycledHostParts): Promise<UpstreamHost> {
  const open = new Set<Running>();
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  let current: Running;
  /** A new child started while a call became parked in the current one: it takes over once nothing is parked. */
  let standby: Running | undefined;
  /** The host ended (its current child crashed, or it was closed): no child of it may outlive it. */
  let ended = false;
  const start = async (): Promise<Running> => {
    const generation: Running = { ...(await parts.start()), inflight: 0, retired: false };
    open.add(generation);
    // Only the current child's end ends this host (a crash: the pool starts afresh); a retired one was expected to end,
    // and a standby that ends is simply not used.
    generation.host.closed.then(() => {
      open.delete(generation);
      if (standby === generation) standby = undefined;
      else if (!generation.retired) endAfterCrash();
    });
    if (ended) retire(generation);
    return generation;
  };
  const retire = (generation: Running) => {
    generation.retired = true;
    void generation.host.close().catch(() => {});
  };
  const endAfterCrash = () => {
    ended = true;
    standby = undefined;
    for (const generation of open) if (generation.inflight === 0) retire(generation);
    markClosed();
  };
  const stopIfDone = (generation: Running) => {
    if ((generation.retired || ended) && generation.inflight === 0) retire(generation);
  };
  const takeOver = (next: Running): Running => {
    const old = current;
    current = next;
    old.retired = true;
    stopIfDone(old);
    return next;
  };
  // A call parked on its user's answer (an input_required round) lives in the current child: its retry must find it
  // there. The child is renewed once nothing is parked, or when its credential is about to lapse anyway.
  const holdsParkedCall = () => current.host.awaitingClient() && parts.stillValid(current.expiresAt);
  current = await start();
  let replacing: Promise<Running> | undefined;
  const fresh = (): Promise<Running> => {
    if (!parts.needsRenewal(current.expiresAt) || holdsParkedCall()) return Promise.resolve(current);
    if (standby) {
      const next = standby;
      standby = undefined;
      return Promise.resolve(takeOver(next));
    }
    replacing ??= start()
      .then((next) => {
        // A call may have been parked in the current child while the new one started.
        if (!holdsParkedCall()) return takeOver(next);
        standby = next;
        return current;
      })
      .finally(() => {
        replacing = undefined;
      });
    return replacing;
  };

  return {
    get pid() {
      return current.host.pid;
    },
    era: current.host.era,
    active: 0,
    awaitingClient: () => current.host.awaitingClient(),
    lastUsed: Date.now(),
    closed,
    async fetch(request: Request, caller: Caller) {
      let generation: Running;
      try {
        generation = await fresh();
      } catch (error) {
        return refusal(request, parts.refused(error));
      }
      generation.inflight++;
      const done = () => {
        generation.inflight--;
        stopIfDone(generation);
      };
      try {
        return onBodyEnd(await generation.host.fetch(request, caller), done);
      } catch (error) {
        done();
        throw error;
      }
    },
    async close() {
      ended = true;
      for (const generation of open) generation.retired = true;
      await Promise.all([...open].map((generation) => generation.host.close()));
      markClosed();
    },
  };
}

/** A JSON-RPC error answering the request (its id, when its body says). */
async function refusal(request: Request, error: { code: number; message: string }): Promise<Response> {
  const body = (await request.json().catch(() => undefined)) as { id?: unknown } | undefined;
  const id = typeof body?.id === "string" || typeof body?.id === "number" ? body.id : null;
  return Response.json({ jsonrpc: "2.0", id, error }, { status: 503 });
}
