import type { Client, McpSubscription } from "@modelcontextprotocol/client";
import { InMemoryServerEventBus, type ServerEvent, type ServerEventBus } from "@modelcontextprotocol/server";
import { failureText } from "./failure-text.ts";
import type { UpstreamEventMethod } from "./upstream-client.ts";

const EVENT_OF_METHOD: Record<Exclude<UpstreamEventMethod, "notifications/resources/updated">, ServerEvent["kind"]> = {
  "notifications/tools/list_changed": "tools_list_changed",
  "notifications/prompts/list_changed": "prompts_list_changed",
  "notifications/resources/list_changed": "resources_list_changed",
};

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
  private upstreamListen?: Promise<McpSubscription | undefined>;

  constructor(client: Client, log: (line: string) => void) {
    this.client = client;
    this.log = log;
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

  /** A listen stream opened that watches these resources; returns what to call when it closes. */
  watch(uris: string[]): () => void {
    const added = uris.filter((uri) => {
      const count = this.watched.get(uri) ?? 0;
      this.watched.set(uri, count + 1);
      return count === 0;
    });
    if (added.length > 0) this.watchUpstream(added, true);
    return () => {
      const removed = uris.filter((uri) => {
        const count = (this.watched.get(uri) ?? 1) - 1;
        if (count > 0) this.watched.set(uri, count);
        else this.watched.delete(uri);
        return count === 0;
      });
      if (removed.length > 0) this.watchUpstream(removed, false);
    };
  }

  close(): void {
    this.closeUpstreamListen();
  }

  private watchUpstream(uris: string[], on: boolean): void {
    if (this.client.getProtocolEra() === "modern") {
      this.refreshUpstreamListen();
      return;
    }
    if (!this.client.getServerCapabilities()?.resources?.subscribe) return;
    for (const uri of uris) {
      const done = on ? this.client.subscribeResource({ uri }) : this.client.unsubscribeResource({ uri });
      done.catch((error: unknown) => this.log(`resources/${on ? "" : "un"}subscribe failed upstream: ${failureText(error)}`));
    }
  }

  /** (Re)opens the 2026-07-28 upstream's own listen stream with everything someone here listens for. */
  private refreshUpstreamListen(): void {
    if (this.client.getProtocolEra() !== "modern" || this.bus.listenerCount === 0) return;
    this.closeUpstreamListen();
    const capabilities = this.client.getServerCapabilities() ?? {};
    this.upstreamListen = this.client
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
  }

  private closeUpstreamListen(): void {
    const open = this.upstreamListen;
    this.upstreamListen = undefined;
    open?.then((subscription) => subscription?.close()).catch(() => {});
  }
}
