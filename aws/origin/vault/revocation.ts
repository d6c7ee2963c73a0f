import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AuditEvent } from "../../../contract/audit-event.ts";
import type { AuditStore } from "../audit/store.ts";
import type { KeyWrapper } from "./key-wrapper.ts";
import { TokenVault } from "./token-vault.ts";

// Seeing and revoking users' connections, shared by `npm run upstream-connections` and the /ops routes, so both
// delete the same rows and write the same audit event.

/** Listing and deleting need no key: nothing is decrypted. */
const NO_KEY: KeyWrapper = {
  describe: "no key (listing and revoking open no token)",
  newDataKey: () => Promise.reject(new Error("listing and revoking open no token")),
  unwrap: () => Promise.reject(new Error("listing and revoking open no token")),
};

/** The vault as operators reach it: list and revoke only. */
export const operatorVault = (db: pg.Pool): Pick<TokenVault, "list" | "revoke"> => new TokenVault(db, NO_KEY);

/** Whose connections: by e-mail, or by the identity provider's id for a row that has no e-mail. */
export type RevokedUser = { email: string; sub?: undefined } | { sub: string; email?: string };

/**
 * Deletes the user's tokens for `server` (every server when absent) and audits it as `upstream.revoked`, `by` being
 * whoever revoked, in one transaction: a revocation is never done unrecorded. Returns how many rows went.
 */
export function revokeAudited(
  vault: Pick<TokenVault, "revoke">,
  audit: Pick<AuditStore, "insertWith">,
  user: RevokedUser,
  server: string | undefined,
  by: string,
): Promise<number> {
  return audit.insertWith(async (db) => {
    const removed = await vault.revoke(user.sub === undefined ? { email: user.email } : { sub: user.sub }, server, db);
    const event: AuditEvent = {
      id: randomUUID(),
      time: new Date().toISOString(),
      kind: "upstream.revoked",
      userEmail: user.email,
      userSub: user.sub,
      clientId: `operator:${by}`,
      server,
      outcome: "ok",
      count: removed > 0 ? removed : undefined,
      latencyMs: 0,
    };
    return { result: removed, events: [event] };
  });
}
