import { describe, expect, it } from "vitest";
import { UpstreamEvents } from "../../aws/origin/hosting/upstream-events.ts";

// A 2026-07-28 upstream is sent what this connection's users listen for as one listen stream of its own, opened again
// with everything whenever that changes. Every open stream delivers each notification (the SDK hands them all to the
// same handlers), so replacing streams must not leave many open at once: many listens opened together made one
// upstream stream each, and each notification reached every listener once per stream (s23 hunt isolation N4). Nor may
// a change be missed between the stream replaced and its replacement. The upstream's acknowledgements are in the
// test's hands here: a client object whose `listen` answers when told.

interface UpstreamStream {
  filter: { resourceSubscriptions?: string[] };
  acknowledge(accepted: boolean): void;
  end(): void;
  closed: boolean;
}

function scriptedClient() {
  const streams: UpstreamStream[] = [];
  const client = {
    getProtocolEra: () => "modern",
    getServerCapabilities: () => ({ resources: { subscribe: true, listChanged: true } }),
    listen(filter: UpstreamStream["filter"]) {
      return new Promise((resolve, reject) => {
        const stream: UpstreamStream = {
          filter,
          closed: false,
          acknowledge(accepted) {
            if (accepted) return resolve({ close: async () => stream.end() });
            stream.end();
            reject(new Error("subscription limit reached"));
          },
          end() {
            stream.closed = true;
          },
        };
        streams.push(stream);
      });
    },
  };
  const open = () => streams.filter((stream) => !stream.closed);
  return { client, streams, open };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the upstream's own listen stream, as what is listened for changes", () => {
  it("opens one more stream with everything asked meanwhile, not one per change, and closes the old once the new is acknowledged", async () => {
    const { client, streams, open } = scriptedClient();
    const events = new UpstreamEvents(client as never, () => {});
    events.subscribe(() => {});
    expect(streams).toHaveLength(1);
    for (let listen = 0; listen < 17; listen++) events.watch([`sh://r${listen}`], `user${listen}`);
    // Seventeen listens while the first stream opens: none opens a stream of its own.
    expect(streams).toHaveLength(1);
    streams[0]?.acknowledge(true);
    await settle();
    expect(streams).toHaveLength(2);
    expect(streams[1]?.filter.resourceSubscriptions).toHaveLength(17);
    // Until the replacement is acknowledged, the stream it replaces stays open: nothing is missed between them.
    expect(open()).toHaveLength(2);
    streams[1]?.acknowledge(true);
    await settle();
    await settle();
    expect(open()).toEqual([streams[1]]);
    expect(streams).toHaveLength(2);
  });

  it("keeps the stream it was to replace when the replacement is refused", async () => {
    const { client, streams, open } = scriptedClient();
    const events = new UpstreamEvents(client as never, () => {});
    events.subscribe(() => {});
    streams[0]?.acknowledge(true);
    await settle();
    events.watch(["sh://a"], "alice");
    streams[1]?.acknowledge(false);
    await settle();
    await settle();
    expect(open()).toEqual([streams[0]]);
    // The next change replaces it as usual.
    events.watch(["sh://b"], "bob");
    expect(streams[2]?.filter.resourceSubscriptions).toEqual(["sh://a", "sh://b"]);
  });

  it("closes every stream when the last listener goes, also one still opening", async () => {
    const { client, streams, open } = scriptedClient();
    const events = new UpstreamEvents(client as never, () => {});
    const stop = events.subscribe(() => {});
    streams[0]?.acknowledge(true);
    await settle();
    events.watch(["sh://a"], "alice");
    stop();
    streams[1]?.acknowledge(true);
    await settle();
    await settle();
    expect(open()).toEqual([]);
  });
});
