import type pg from "pg";
import { openValue, sealValue } from "./envelope.ts";
import type { KeyWrapper } from "./key-wrapper.ts";

/** Whose token a row holds: the user the edge vouched for, and the upstream it is for. */
export interface TokenOwner {
  sub: string;
  email?: string;
  server: string;
}

/** What the vault keeps for one user and server; it never leaves the origin, and is never logged. */
export interface StoredConnection {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms when the access token expires (unknown: never refreshed ahead). */
  expiresAt?: number;
  scope?: string;
  /** The client the tokens were issued to (a refresh must use the same one). */
  client: { client_id: string; client_secret?: string };
  /** The authorization server's issuer, whose metadata names its token endpoint. */
  issuer: string;
  /** The resource indicator (RFC 8707) the tokens were asked for. */
  resource?: string;
}

/** A connection as listed for operators: who, which server, and when, never the tokens. */
export interface ConnectionSummary {
  sub: string;
  email: string | null;
  server: string;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

type SealedRow = { wrapped_key: Buffer; sealed: Buffer };

/** The `purpose` of every vault encryption context: the deployment's key grant requires it (aws/cdk/service/key-permissions.ts). */
export const VAULT_CONTEXT_PURPOSE = "upstream-token";

/** The row's identity, bound into its encryption: a sealed row copied under another user or server does not open. */
const contextOf = (owner: Pick<TokenOwner, "sub" | "server">) => ({
  purpose: VAULT_CONTEXT_PURPOSE,
  sub: owner.sub,
  server: owner.server,
});

/** Users' upstream tokens in PostgreSQL, envelope-encrypted per row (docs/upstream-credentials.md). */
/** One refresh's hold on a row (when its lease ends, exactly as stored): only its holder stores renewed tokens. */
export type RefreshMark = string & { readonly __brand: "RefreshMark" };

export class TokenVault {
  readonly #db: pg.Pool;
  readonly #keys: KeyWrapper;

  constructor(db: pg.Pool, keys: KeyWrapper) {
    this.#db = db;
    this.#keys = keys;
  }

  /** Stores the user's tokens for the server (and ends a refresh of them). */
  async put(owner: TokenOwner, connection: StoredConnection): Promise<void> {
    const sealed = await sealValue(this.#keys, JSON.stringify(connection), contextOf(owner));
    await this.#db.query(
      `INSERT INTO upstream_tokens (user_sub, server, user_email, wrapped_key, sealed, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_sub, server) DO UPDATE SET user_email = EXCLUDED.user_email, wrapped_key = EXCLUDED.wrapped_key,
         sealed = EXCLUDED.sealed, expires_at = EXCLUDED.expires_at, updated_at = now(), refreshing_until = NULL`,
      [owner.sub, owner.server, owner.email ?? null, sealed.wrappedKey, sealed.ciphertext, expiry(connection)],
    );
  }

  /**
   * Stores the tokens a refresh brought, only if the row still carries this refresh's `mark` (and ends the refresh):
   * a revocation that deleted the row meanwhile (an operator, an offboarding) stands, and so does a consent the user
   * gave meanwhile (its `put` cleared the mark; its tokens are newer than the ones this refresh renewed). False says
   * the tokens were dropped.
   */
  async putRefreshed(owner: TokenOwner, connection: StoredConnection, mark: RefreshMark): Promise<boolean> {
    const sealed = await sealValue(this.#keys, JSON.stringify(connection), contextOf(owner));
    const { rowCount } = await this.#db.query(
      `UPDATE upstream_tokens SET wrapped_key = $3, sealed = $4, expires_at = $5, updated_at = now(), refreshing_until = NULL
       WHERE user_sub = $1 AND server = $2 AND refreshing_until = $6::timestamptz`,
      [owner.sub, owner.server, sealed.wrappedKey, sealed.ciphertext, expiry(connection), mark],
    );
    return rowCount === 1;
  }

  /**
   * The user's stored tokens for the server. Given the e-mail the user's assertion carries now, the row takes it when it
   * holds another (or none): operators find and revoke rows by e-mail, and a user whose address changed would
   * otherwise stay listed under the old one. An assertion without an e-mail leaves the stored one.
   */
  async get(owner: Pick<TokenOwner, "sub" | "server" | "email">): Promise<StoredConnection | undefined> {
    // The update runs with the read, in one statement; it reads only the row as it was, and touches no token (nor
    // updated_at, which says when the tokens were last renewed).
    const { rows } = await this.#db.query<SealedRow>(
      `WITH renamed AS (
         UPDATE upstream_tokens SET user_email = $3
         WHERE $3::text IS NOT NULL AND user_sub = $1 AND server = $2 AND user_email IS DISTINCT FROM $3
       )
       SELECT wrapped_key, sealed FROM upstream_tokens WHERE user_sub = $1 AND server = $2`,
      [owner.sub, owner.server, owner.email ?? null],
    );
    return this.#open(owner, rows[0]);
  }

  /**
   * Marks the row as being refreshed by the caller for `leaseMs`, unless another caller's mark is still current. A mark:
   * the caller holds it, and is the only one to send the row's refresh token until it stores the new tokens
   * (`putRefreshed` with this mark; `put` clears it too), forgets the row, or gives the mark back (`endRefresh`).
   * Undefined: someone else is refreshing (or there is no row).
   */
  async beginRefresh(owner: Pick<TokenOwner, "sub" | "server">, leaseMs: number): Promise<RefreshMark | undefined> {
    const { rows } = await this.#db.query<{ mark: string }>(
      `UPDATE upstream_tokens SET refreshing_until = now() + $3 * interval '1 millisecond'
       WHERE user_sub = $1 AND server = $2 AND (refreshing_until IS NULL OR refreshing_until < now())
       RETURNING refreshing_until::text AS mark`,
      [owner.sub, owner.server, leaseMs],
    );
    return rows[0]?.mark as RefreshMark | undefined;
  }

  /**
   * Gives back a refresh mark without new tokens (the refresh failed for now): the next caller may try. Only this
   * mark: one that lapsed while another caller marked the row again leaves that caller's mark alone.
   */
  async endRefresh(owner: Pick<TokenOwner, "sub" | "server">, mark: RefreshMark): Promise<void> {
    await this.#db.query(
      "UPDATE upstream_tokens SET refreshing_until = NULL WHERE user_sub = $1 AND server = $2 AND refreshing_until = $3::timestamptz",
      [owner.sub, owner.server, mark],
    );
  }

  /**
   * Deletes the row a refresh found unusable (its grant refused), only if it still carries this refresh's `mark`: a
   * consent the user gave meanwhile (a new row's tokens) stays. True when the row went.
   */
  async forgetMarked(owner: Pick<TokenOwner, "sub" | "server">, mark: RefreshMark): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      "DELETE FROM upstream_tokens WHERE user_sub = $1 AND server = $2 AND refreshing_until = $3::timestamptz",
      [owner.sub, owner.server, mark],
    );
    return rowCount === 1;
  }

  async #open(owner: Pick<TokenOwner, "sub" | "server">, row: SealedRow | undefined): Promise<StoredConnection | undefined> {
    if (!row) return undefined;
    const plain = await openValue(this.#keys, { wrappedKey: row.wrapped_key, ciphertext: row.sealed }, contextOf(owner));
    return JSON.parse(plain) as StoredConnection;
  }

  /**
   * Forgets one user's token for one server, or every server (offboarding), on `within` when given (the caller's
   * transaction). Returns how many rows went.
   */
  async revoke(who: { sub?: string; email?: string }, server?: string, within?: pg.PoolClient): Promise<number> {
    // E-mail addresses are kept as the identity provider spelled them; an operator's spelling must still find them,
    // as `list` does: a revocation that silently deletes nothing would leave an offboarded user connected.
    const [match, value] = who.sub !== undefined ? ["user_sub = $1", who.sub] : ["lower(user_email) = lower($1)", who.email];
    if (value === undefined) throw new Error("revoking needs the user's id or e-mail");
    const { rowCount } = await (within ?? this.#db).query(
      `DELETE FROM upstream_tokens WHERE ${match} AND ($2::text IS NULL OR server = $2)`,
      [value, server ?? null],
    );
    return rowCount ?? 0;
  }

  /** Connections, optionally one user's (by e-mail), without their tokens. */
  async list(email?: string): Promise<ConnectionSummary[]> {
    const { rows } = await this.#db.query<{
      user_sub: string;
      user_email: string | null;
      server: string;
      expires_at: Date | null;
      created_at: Date;
      updated_at: Date;
    }>(
      `SELECT user_sub, user_email, server, expires_at, created_at, updated_at FROM upstream_tokens
       WHERE $1::text IS NULL OR lower(user_email) = lower($1) ORDER BY user_email, server`,
      [email ?? null],
    );
    return rows.map((row) => ({
      sub: row.user_sub,
      email: row.user_email,
      server: row.server,
      expiresAt: row.expires_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }
}

const expiry = (connection: StoredConnection) => (connection.expiresAt === undefined ? null : new Date(connection.expiresAt));
