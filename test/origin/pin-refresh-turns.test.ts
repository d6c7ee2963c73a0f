import { describe, expect, it } from "vitest";
import { DefinitionPins } from "../../aws/origin/pinning/definition-pins.ts";
import { pinnedForm } from "../../aws/origin/pinning/fingerprint.ts";
import type { PinnedDefinition, PinStore } from "../../aws/origin/pinning/pin-store.ts";

// Reads of the pinned definitions take turns: one answered late must not lay an older snapshot over a newer one.

const tool = (name: string, description: string) => ({ name, description, inputSchema: { type: "object" } });
const A = tool("search", "v1");
const row = (definition: Record<string, unknown>, status: PinnedDefinition["status"], at: number): PinnedDefinition => ({
  server: "s",
  kind: "tool",
  name: String(definition.name),
  fingerprint: pinnedForm("tool", definition).fingerprint,
  fingerprintVersion: 2,
  definition,
  status,
  firstSeen: new Date(at),
  decidedAt: new Date(at),
  decidedBy: null,
  updatedAt: new Date(at),
});

describe("reads of the pinned definitions", () => {
  it("take turns: a slow read answered after a rejection cannot undo it", async () => {
    const t0 = Date.parse("2026-12-02T10:00:00Z");
    let table: PinnedDefinition[] = [row(A, "approved", t0)];
    let releaseSlow = () => {};
    let slowStarted = () => {};
    let slow = false;
    const store = {
      polledSince: async (since?: Date) => {
        const snapshot = table.filter((stored) => !since || stored.updatedAt > since).map((stored) => ({ ...stored }));
        if (!slow) return snapshot;
        slow = false;
        return new Promise<PinnedDefinition[]>((resolve) => {
          releaseSlow = () => resolve(snapshot);
          slowStarted();
        });
      },
      record: async () => true,
    } as unknown as PinStore;
    const pins = new DefinitionPins({ store, modeOf: () => "trust-on-first-use", sighted: () => {}, log: () => {} });
    await pins.refresh();
    expect(await pins.allows("s", "tool", A)).toBeUndefined();
    slow = true;
    const started = new Promise<void>((resolve) => {
      slowStarted = resolve;
    });
    const early = pins.refresh(); // its snapshot has A approved, and it answers last
    await started;
    // An administrator rejects A, then other traffic moves the watermark past the rejection.
    table = [row(A, "rejected", t0 + 5_000), row(tool("other", "x"), "approved", t0 + 60_000)];
    const later = pins.refresh();
    releaseSlow();
    await Promise.all([early, later]);
    await pins.refresh();
    expect(await pins.allows("s", "tool", A)).toBeDefined(); // withheld
  });
});
