import { base64url } from "jose";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import type { EdgeEnv } from "../env.ts";
import { edgeOAuth, REFRESH_TOKEN_TTL_SECONDS } from "./authorization-server.ts";
import { grantOwnerId } from "./grant-owner.ts";
import { inGrantTurn } from "./grant-turn.ts";
import { forgetValidatedTokens } from "./token-cache.ts";

/**
 * The index that finds a user's grants from their e-mail address, for "sign out everywhere" (the ops dashboard's
 * Sign-ins page). The library files grants under a userId (`grantOwnerId(sub)`, a digest of the IdP's `sub`) and
 * lists them only by it; an administrator knows the leaver by e-mail. One KV record per e-mail:
 * `user-email:<SHA-256 of the trimmed, lowercased e-mail, base64url>` (no address in clear in a key), holding the
 * userIds that address signed in under, each until when a grant made under it can live.
 */
const INDEX_PREFIX = "user-email:";

/** Past a grant's 30 days: its clock starts when its code is redeemed, which is at most 10 minutes after it is made. */
const MARGIN_SECONDS = 86_400;
/**
 * An entry that still outlives a grant made now by this much is not rewritten: a user's sign-ins of one day write it
 * once (KV takes one write a second per key), and the index still outlives every grant (its code lives 10 minutes).
 */
const ENOUGH_SECONDS = 3_600;
/** How long an authorization code lives before its grant's 30 days start (the library's default). */
const CODE_LIFETIME_SECONDS = 600;
/** More userIds than one address plausibly has (an IdP that changed a user's `sub`); the newest are kept. */
const MAX_OWNERS = 20;

interface Owner {
  /** The library's userId: `grantOwnerId(sub)`. */
  id: string;
  /** Epoch seconds after which no grant made under this userId before the last write can live. */
  until: number;
}

/** The form of an address both sides compare: what the IdP sends and what an administrator types. */
export const normalizedEmail = (email: string): string => email.trim().toLowerCase();

/** The KV key of an address's entry (exported for the tests). */
export async function emailIndexKey(email: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(normalizedEmail(email)));
  return `${INDEX_PREFIX}${base64url.encode(new Uint8Array(digest))}`;
}

async function readOwners(kv: KVNamespace, key: string, now: number): Promise<Owner[]> {
  const stored = await kv.get<{ owners?: unknown }>(key, "json");
  const owners = Array.isArray(stored?.owners) ? stored.owners : [];
  return owners.filter(
    (owner): owner is Owner =>
      typeof owner?.id === "string" && owner.id.length > 0 && typeof owner.until === "number" && owner.until > now,
  );
}

/**
 * Files `userId` under `email` before a grant is made for it, so that no grant exists that the index cannot find (a
 * failed write fails the sign-in). The record ends with its newest entry, `REFRESH_TOKEN_TTL_SECONDS` and a day after
 * the grant (a grant lives 30 days from sign-in however often it is refreshed), so it never grows past the users who
 * signed in within the last 31 days, and an entry of an address is dropped once no grant of its can be left.
 */
export async function rememberGrantOwner(kv: KVNamespace, email: string, userId: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const key = await emailIndexKey(email);
  const owners = await readOwners(kv, key, now);
  const until = now + REFRESH_TOKEN_TTL_SECONDS + MARGIN_SECONDS;
  const current = owners.find((owner) => owner.id === userId);
  if (current && current.until >= now + REFRESH_TOKEN_TTL_SECONDS + ENOUGH_SECONDS) return;
  const kept = [{ id: userId, until }, ...owners.filter((owner) => owner.id !== userId)]
    .toSorted((a, b) => b.until - a.until)
    .slice(0, MAX_OWNERS);
  try {
    await kv.put(key, JSON.stringify({ owners: kept }), { expirationTtl: until - now });
  } catch (error) {
    // KV takes about one write a second per key: two sign-ins at once may see one refused. An entry that already
    // outlives the grant about to be made (its code lives 10 minutes) finds it all the same.
    if (current && current.until >= now + REFRESH_TOKEN_TTL_SECONDS + CODE_LIFETIME_SECONDS) return;
    throw error;
  }
}

export interface SignedOut {
  /** How many grants were revoked. */
  revoked: number;
  /** The IdP subjects whose grants were revoked (one, but for odd IdP setups). */
  subs: string[];
}

/**
 * Revokes every grant at this edge of the user with this e-mail: each MCP client's and each dashboard session, with
 * their access and refresh tokens. Each grant's own recorded e-mail is checked before it is revoked, so an entry of
 * the index that names another user's id revokes nothing of theirs. This isolate forgets the tokens it validated at
 * once; other isolates stop accepting them within `tokenCacheSeconds`.
 */
export async function signOutEverywhere(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  email: string,
): Promise<SignedOut> {
  const wanted = normalizedEmail(email);
  const owners = await readOwners(env.OAUTH_KV, await emailIndexKey(wanted), Math.floor(Date.now() / 1000));
  return revokeGrants(
    env,
    ctx,
    config,
    owners.map(({ id }) => id),
    (grant) => grant.email === wanted,
  );
}

/**
 * Revokes the grants of one user, `sub`, made under `email`: each MCP client's and each dashboard session, with their
 * tokens. For a state read by `sub` (the Workspace id), which is that person's alone: signing out the address
 * (`signOutEverywhere`) would also end the grants of whoever holds it now, a new hire given a leaver's address. A
 * grant of the same `sub` under another address (the account's new one, after a rename) is not this state's and is
 * left to its own check.
 */
export async function signOutSub(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  sub: string,
  email: string,
): Promise<SignedOut> {
  const wanted = normalizedEmail(email);
  const owner = await grantOwnerId(sub);
  return revokeGrants(env, ctx, config, [owner], (grant) => grant.sub === sub && grant.email === wanted);
}

/** What a grant's metadata says of whom it was made for (the e-mail normalized), as far as it says it. */
interface GrantHolder {
  sub?: string;
  email?: string;
}

/**
 * Revokes each grant of these owners whose recorded holder `matches`, each in its grant's turn (a refresh under way
 * would otherwise write the grant back after its revocation). This isolate forgets the tokens it validated, also
 * when nothing was found; a failure part of the way throws SignOutIncomplete with what was revoked.
 */
async function revokeGrants(
  env: EdgeEnv,
  ctx: ExecutionContext,
  config: EdgeConfig,
  owners: string[],
  matches: (holder: GrantHolder) => boolean,
): Promise<SignedOut> {
  const oauth = edgeOAuth(config).authorizationServer.getOAuthApi(env);
  const done: SignedOut = { revoked: 0, subs: [] };
  try {
    for (const owner of owners) {
      for (const grant of await everyGrant(oauth, owner)) {
        const holder = holderOf(grant.metadata);
        if (!matches(holder)) continue;
        await inGrantTurn(env, ctx, { userId: owner, grantId: grant.id }, () => oauth.revokeGrant(grant.id, owner));
        done.revoked += 1;
        if (holder.sub !== undefined && !done.subs.includes(holder.sub)) done.subs.push(holder.sub);
      }
    }
  } catch (error) {
    throw new SignOutIncomplete(done, error);
  } finally {
    forgetValidatedTokens();
  }
  return done;
}

function holderOf(metadata: unknown): GrantHolder {
  const { sub, email } = (metadata ?? {}) as { sub?: unknown; email?: unknown };
  return {
    ...(typeof sub === "string" && { sub }),
    ...(typeof email === "string" && { email: normalizedEmail(email) }),
  };
}

type OAuthApi = ReturnType<ReturnType<typeof edgeOAuth>["authorizationServer"]["getOAuthApi"]>;

async function everyGrant(oauth: OAuthApi, userId: string) {
  const grants = [];
  let cursor: string | undefined;
  do {
    const page = await oauth.listUserGrants(userId, cursor === undefined ? {} : { cursor });
    grants.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return grants;
}

/** A sign-out that failed part of the way (KV refused, a grant's turn could not be had): what it did revoke. */
export class SignOutIncomplete extends Error {
  readonly done: SignedOut;
  constructor(done: SignedOut, cause: unknown) {
    super(`signing out stopped after ${done.revoked} grant(s): ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "SignOutIncomplete";
    this.done = done;
  }
}
