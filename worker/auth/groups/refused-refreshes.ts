import type { GrantRef } from "../grant-turn.ts";
import type { AccountNotActive } from "./account-not-active.ts";

/**
 * Refreshes refused because the user's Workspace account is not active, handed from the library's
 * `tokenExchangeCallback` (refreshed-grant.ts), which runs inside the grant's turn, to the token endpoint, which signs
 * the user out everywhere once that turn is over (signing out takes each grant's turn: inside one it would wait for
 * itself). The callback and the endpoint run in one request of one isolate; requests on one grant take turns, so a
 * grant has at most one entry, taken by the request that made it.
 */
const refused = new Map<string, AccountNotActive>();
/** Entries kept at most (each is taken at once; only a request that failed between the two would leave one). */
const MAX_ENTRIES = 1_000;

const keyOf = (grant: GrantRef) => `${grant.userId}:${grant.grantId}`;

/** The callback refused this grant's refresh: its user's account is not active. */
export function noteRefusedRefresh(grant: GrantRef, gone: AccountNotActive): void {
  refused.delete(keyOf(grant));
  refused.set(keyOf(grant), gone);
  if (refused.size > MAX_ENTRIES) refused.delete(refused.keys().next().value as string);
}

/** Why this grant's refresh was refused for its user's account, if it was; the entry is gone once taken. */
export function takeRefusedRefresh(grant: GrantRef): AccountNotActive | undefined {
  const gone = refused.get(keyOf(grant));
  refused.delete(keyOf(grant));
  return gone;
}
