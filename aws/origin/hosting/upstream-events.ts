import type { Client, McpSubscription } from "@modelcontextprotocol/client";
import { InMemoryServerEventBus, type ServerEvent, type ServerEventBus } from "@modelcontextprotocol/server";
import { MAX_SUBSCRIPTIONS } from "../../../contract/resource-subscriptions.ts";
import { failureText } from "./failure-text.ts";
import { SubscribeQueue } from "./subscribe-queue.ts";
import type { UpstreamEventMethod } from "./upstream-client.ts";

const EVENT_OF_METHOD: Record<Exclude<UpstreamEventMethod, "notifications/resources/updated">, ServerEvent["kind"]> = {
  "notifications/tools/list_changed": "tools_list_changed",
  "notifications/prompts/list_changed": "prompts_list_changed",
  "notifications/resources/list_changed": "resources_list_changed",
};

/**
 * Bytes of resource URIs (UTF-8, as JSON) one user's open listens may have a connection watch, and all users' together:
 * a 2026-07-28 upstream is sent every watched URI in one listen message, and an SDK server reads at most 10 MiB of one
 * (stdio) message: past it, the shared child exited and every user's listens and calls on it ended (s23 hunt isolation
 * N7). One user takes at most a quarter of what a connection sends, so that a few are needed to fill it.
 */
export const WATCHED_BYTES = { perUser: 1024 * 1024, perConnection: 4 * 1024 * 1024 } as const;

/**
 * Carries an upstream's list-changed and resource-updated notifications to the `subscriptions/listen` streams
 * the edge holds open for this user. A 2025-era upstream sends them unasked (resource updates once subscribed);
 * a 2026-07-28 upstream sends them on a listen stream of its own, which is open only while someone listens here.
 */
export class UpstreamEvents implements ServerEventBus {
  private readonly bus = new InMemoryServerEventBus();
  private readonly client: Client;
  private readonly log: (line: string) => void;
  /** Resource URIs some open listen stream watches, with how many streams watch each. */
  private readonly watched = new Map<string, number>();
  /** Bytes of the watched URIs (UTF-8 JSON, one listen's set at a time): all of them, and each user's listens'. */
  private watchedBytes = 0;
  private readonly userBytes = new Map<string, number>();
  private upstreamListen?: Promise<McpSubscription | undefined>;
  /** Whether an upstream listen is being opened, and whether what is listened for changed since it was asked for. */
  private opening = false;
  private stale = false;
  /** A 2025-era upstream's resources/subscribe and unsubscribe requests, users in turn. */
  private readonly subscribes: SubscribeQueue;

  constructor(client: Client, log: (line: string) => void) {
    this.client = client;
    this.log = log;
    this.subscribes = new SubscribeQueue(
      (uri, on) => (on ? client.subscribeResource({ uri }) : client.unsubscribeResource({ uri })),
      log,
    );
  }

  /** An upstream notification: published to every listen stream that opted in to its kind. */
  fromUpstream(method: UpstreamEventMethod, params: Record<string, unknown> | undefined): void {
    if (method === "notifications/resources/updated") {
      if (typeof params?.uri === "string") this.bus.publish({ kind: "resource_updated", uri: params.uri, params });
      return;
    }
    this.bus.publish({ kind: EVENT_OF_METHOD[method], params } as ServerEvent);
  }

  publish(event: ServerEvent): void {
    this.bus.publish(event);
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    const unsubscribe = this.bus.subscribe(listener);
    if (this.bus.listenerCount === 1) this.refreshUpstreamListen();
    return () => {
      unsubscribe();
      if (this.bus.listenerCount === 0) this.closeUpstreamListen();
    };
  }

  /**
   * A listen stream of `user` opened that watches these resources; returns what to call when it closes, or why it may
   * not watch them (WATCHED_BYTES: the listen is refused). A listen naming more than one may watch was refused before
   * it came here (the origin's route); should one still come, nothing of it is watched.
   */
  watch(uris: string[], user: string): (() => void) | string {
    if (uris.length > MAX_SUBSCRIPTIONS) {
      this.log(`a listen naming ${uris.length} resources was not watched: at most ${MAX_SUBSCRIPTIONS} are`);
      return () => {};
    }
    const bytes = bytesOf(uris);
    const refusal = this.overWatched(uris, bytes, user);
    if (refusal) return refusal;
    this.userBytes.set(user, (this.userBytes.get(user) ?? 0) + bytes);
    const added = uris.filter((uri) => {
      const count = this.watched.get(uri) ?? 0;
      this.watched.set(uri, count + 1);
      return count === 0;
    });
    this.watchedBytes += bytesOf(added);
    if (added.length > 0) this.watchUpstream(user, added, true);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.userBytes.get(user) ?? bytes) - bytes;
      if (left > 0) this.userBytes.set(user, left);
      else this.userBytes.delete(user);
      const removed = uris.filter((uri) => {
        const count = (this.watched.get(uri) ?? 1) - 1;
        if (count > 0) this.watched.set(uri, count);
        else this.watched.delete(uri);
        return count === 0;
      });
      this.watchedBytes = Math.max(0, this.watchedBytes - bytesOf(removed));
      if (removed.length > 0) this.watchUpstream(user, removed, false);
    };
  }

  /** Why these URIs may not be watched for `user` as well (WATCHED_BYTES), or undefined when they may. */
  private overWatched(uris: string[], bytes: number, user: string): string | undefined {
    if ((this.userBytes.get(user) ?? 0) + bytes > WATCHED_BYTES.perUser)
      return `your open listens on this server watch as many resources as one user may (${WATCHED_BYTES.perUser} bytes of URIs); close some, or watch fewer`;
    const added = bytesOf(uris.filter((uri) => !this.watched.has(uri)));
    if (this.watchedBytes + added > WATCHED_BYTES.perConnection)
      return `this server's connection watches as many resources as it can, for all its users (${WATCHED_BYTES.perConnection} bytes of URIs); watch fewer, or try again later`;
    return undefined;
  }

  close(): void {
    this.subscribes.close();
    this.closeUpstreamListen();
  }

  private watchUpstream(user: string, uris: string[], on: boolean): void {
    if (this.client.getProtocolEra() === "modern") {
      this.refreshUpstreamListen();
      return;
    }
    if (!this.client.getServerCapabilities()?.resources?.subscribe) return;
    this.subscribes.add(user, uris, on);
  }

  /**
   * (Re)opens the 2026-07-28 upstream's own listen stream with everything someone here listens for. The stream it
   * replaces is closed once the new one is acknowledged, so no change is lost between the two; while one is opening,
   * a further change of what is listened for waits for it and opens one more with everything then: many listens
   * opened at once make two upstream streams, not one each, whose overlap would deliver each notification once per
   * stream (s23 hunt isolation N4).
   */
  private refreshUpstreamListen(): void {
    if (this.client.getProtocolEra() !== "modern" || this.bus.listenerCount === 0) return;
    if (this.opening) {
      this.stale = true;
      return;
    }
    const replaced = this.upstreamListen;
    const capabilities = this.client.getServerCapabilities() ?? {};
    const opened = this.client
      .listen({
        ...(capabilities.tools?.listChanged && { toolsListChanged: true }),
        ...(capabilities.prompts?.listChanged && { promptsListChanged: true }),
        ...(capabilities.resources?.listChanged && { resourcesListChanged: true }),
        ...(this.watched.size > 0 && capabilities.resources?.subscribe && { resourceSubscriptions: [...this.watched.keys()] }),
      })
      .catch((error: unknown) => {
        this.log(`subscriptions/listen failed upstream: ${failureText(error)}`);
        return undefined;
      });
    this.upstreamListen = opened;
    this.opening = true;
    void opened.then((subscription) => {
      this.opening = false;
      // Refused or failed, the new stream leaves the one it was to replace (if nothing closed both meanwhile).
      if (subscription || this.upstreamListen !== opened) closeListen(replaced);
      else this.upstreamListen = replaced;
      if (!this.stale) return;
      this.stale = false;
      this.refreshUpstreamListen();
    });
  }

  private closeUpstreamListen(): void {
    const open = this.upstreamListen;
    this.upstreamListen = undefined;
    this.stale = false;
    closeListen(open);
  }
}

/** Bytes of URIs as an upstream listen carries them (UTF-8 JSON strings and their commas): what the upstream reads. */
const encoder = new TextEncoder();
const bytesOf = (uris: readonly string[]) => uris.reduce((sum, uri) => sum + encoder.encode(JSON.stringify(uri)).length + 1, 0);

/** Closes an upstream listen stream once it is open (one still opening is closed as soon as it is acknowledged). */
function closeListen(listen: Promise<McpSubscription | undefined> | undefined): void {
  listen?.then((subscription) => subscription?.close()).catch(() => {});
}
