import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import type { OriginConfig, UpstreamServer } from "../../../contract/config/schema.ts";
import { printable } from "../../../contract/printable.ts";
import { type EventSink, originEventsOf } from "../audit/origin-events.ts";
import { DefinitionPins, type PinningMode } from "./definition-pins.ts";
import { createPinStore } from "./pin-store.ts";

/**
 * Whether a server's static resources are pinned: as `pinResources` says, else unless each user's connection can show
 * resources of its own. Such a server's resources are its users' data, and differ from user to user: pinned per
 * server, the first user's would be approved and every other user's own, under the same URI, withheld as a change
 * (s23 hunt isolation N1). A `shared` server, and an HTTP server told nothing of the user (`identity: "none"`, no
 * `oauth`, no `googleCredentials`), shows every user the same.
 */
export function pinsResources(settings: UpstreamServer | undefined): boolean {
  if (settings?.pinResources !== undefined) return settings.pinResources;
  if (!settings || settings.sharing === "shared") return true;
  return settings.transport === "http" && settings.identity === "none" && !settings.oauth && !settings.googleCredentials;
}

/** How often an instance looks for approvals made elsewhere (another instance, the CLI). */
export const PIN_POLL_MS = 5_000;

/**
 * The origin's pinned definitions: each server's mode from its configuration (`pinning`, and `pinResources: false` for
 * its resources), every sighting audited, each resource
 * past the bound per server told to `unpinned` (metrics/pins.ts counts them).
 */
export function originPins(
  db: pg.Pool,
  config: Pick<OriginConfig, "servers">,
  auditStore: EventSink,
  log: (line: string) => void,
  unpinned?: (server: string) => void,
): DefinitionPins {
  const events = originEventsOf(auditStore, log);
  const resourcesUnpinned = Object.keys(config.servers).filter(
    (server) => config.servers[server]?.pinning !== "off" && !pinsResources(config.servers[server]),
  );
  if (resourcesUnpinned.length > 0)
    log(
      `pinned definitions: the static resources of ${resourcesUnpinned.join(", ")} are not pinned (per-user servers, whose resources ` +
        'differ from user to user; "pinResources": true pins them: docs/pinning.md)',
    );
  return new DefinitionPins({
    store: createPinStore(db),
    modeOf: (server, kind): PinningMode => {
      const settings = config.servers[server];
      if (kind === "resource" && !pinsResources(settings)) return "off";
      return settings?.pinning ?? "trust-on-first-use";
    },
    sighted: (event, pin) => {
      if (event !== "first_seen")
        log(
          `pinned definitions: ${pin.kind} "${printable(pin.name)}" of ${printable(pin.server)} ${event}, withheld until approved`,
        );
      const audited: AuditEvent = {
        id: randomUUID(),
        time: new Date().toISOString(),
        kind: `definition.${event}`,
        server: pin.server,
        method: pin.kind,
        tool: pin.name,
        outcome: event === "first_seen" ? "ok" : "denied",
        latencyMs: 0,
      };
      events.record(audited);
    },
    log,
    unpinned,
  });
}
