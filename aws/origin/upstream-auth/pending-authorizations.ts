import { createHash } from "node:crypto";
import type pg from "pg";
import { openValue, sealValue } from "../vault/envelope.ts";
import type { KeyWrapper } from "../vault/key-wrapper.ts";
import type { TokenOwner } from "../vault/token-vault.ts";

/** What the callback needs to finish an authorization it did not begin (another origin instance may have begun it). */
export interface PendingAuthorization {
  codeVerifier: string;
  client: { client_id: string; client_secret?: string };
  issuer: string;
  resource: string;
  redirectUri: string;
}

/** How long a user has to consent at the upstream, from the link it was shown. */
export const UPSTREAM_CONSENT_MS = 10 * 60_000;

/**
 * How long the edge gives the browser, from the upstream's return, to sign in there before it hands the return over
 * (CONSENT_SIGN_IN_SECONDS in worker/upstream-auth/consent-cookie.ts: a test keeps the two equal).
 */
export const EDGE_SIGN_IN_MS = 600_000;

/**
 * How long an authorization begun waits to be completed: the user's time at the upstream, then the whole of the edge's
 * sign-in after it. A browser that came back within UPSTREAM_CONSENT_MS never finds it expired while the edge's
 * cookie still holds its return; one that took longer at the upstream has that much less time at the edge.
 */
export const PENDING_TTL_MS = UPSTREAM_CONSENT_MS + EDGE_SIGN_IN_MS;

const hashOf = (state: string) => createHash("sha256").update(state).digest("hex");
const contextOf = (stateHash: string) => ({ purpose: "upstream-oauth-pending", state: stateHash });

/**
 * Authorizations begun for a user and server, in PostgreSQL so that any instance can complete them: found by a hash of
 * their `state` (the state itself is stored nowhere), taken once (a replayed callback finds nothing), short-lived.
 */
export class PendingAuthorizations {
  readonly #db: pg.Pool;
  readonly #keys: KeyWrapper;

  constructor(db: pg.Pool, keys: KeyWrapper) {
    this.#db = db;
    this.#keys = keys;
  }

  async put(state: string, owner: TokenOwner, pending: PendingAuthorization): Promise<void> {
    const stateHash = hashOf(state);
    const sealed = await sealValue(this.#keys, JSON.stringify(pending), contextOf(stateHash));
    await this.#db.query("DELETE FROM upstream_oauth_pending WHERE expires_at < now()");
    await this.#db.query(
      `INSERT INTO upstream_oauth_pending (state_hash, user_sub, user_email, server, wrapped_key, sealed, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        stateHash,
        owner.sub,
        owner.email ?? null,
        owner.server,
        sealed.wrappedKey,
        sealed.ciphertext,
        new Date(Date.now() + PENDING_TTL_MS),
      ],
    );
  }

  /** The authorization this state began, removed in the same statement; undefined if unknown, used or expired. */
  async take(state: string): Promise<{ owner: TokenOwner; pending: PendingAuthorization } | undefined> {
    const stateHash = hashOf(state);
    const { rows } = await this.#db.query<{
      user_sub: string;
      user_email: string | null;
      server: string;
      wrapped_key: Buffer;
      sealed: Buffer;
      expires_at: Date;
    }>("DELETE FROM upstream_oauth_pending WHERE state_hash = $1 RETURNING *", [stateHash]);
    const row = rows[0];
    if (!row || row.expires_at.getTime() < Date.now()) return undefined;
    const plain = await openValue(this.#keys, { wrappedKey: row.wrapped_key, ciphertext: row.sealed }, contextOf(stateHash));
    return {
      owner: { sub: row.user_sub, email: row.user_email ?? undefined, server: row.server },
      pending: JSON.parse(plain) as PendingAuthorization,
    };
  }
}
