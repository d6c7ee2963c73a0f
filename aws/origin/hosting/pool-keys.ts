import { createHash } from "node:crypto";
import type { UpstreamServer } from "../../../contract/config/schema.ts";
import type { Caller } from "./upstream-host.ts";

/** Who a shared connection belongs to in the pool's keys: nobody in particular. */
const EVERY_USER = "*";

/** One connection per server, user (or every user, when shared) and client era (a 2025-era client gets the upstream's 2025 protocol). */
export const keyOf = (server: string, spec: UpstreamServer, caller: Caller) =>
  `${server}\u0000${spec.sharing === "shared" ? EVERY_USER : caller.sub}\u0000${caller.era}`;

/** The circuit of one user's requests on a shared connection. */
export const userKey = (key: string, user: string) => `${key}\u0000${user}`;

/** Names a host (or a user's circuit on a shared one) in logs without the user's identity: a stable pseudonym of their id. */
export function describeKey(key: string): string {
  const [server, owner = "", era, user] = key.split("\u0000");
  const pseudonym = (id: string) => `user ${createHash("sha256").update(id).digest("hex").slice(0, 8)}`;
  const who = owner === EVERY_USER ? "every user" : pseudonym(owner);
  const whose = user === undefined ? "" : `, requests of ${pseudonym(user)}`;
  return `${server} [${who}${era === "legacy" ? ", 2025 client" : ""}${whose}]`;
}
