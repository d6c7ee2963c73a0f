/**
 * Where the origin reads credentials it injects towards upstreams. One interface, one folder per backend:
 * `env/` (environment variables, for `npm start` and tests) and `aws/` (AWS Secrets Manager, in production).
 * Backends cache what they read and pick up rotation without a restart.
 */
export interface SecretsProvider {
  /** The current value of a secret, or a rejection whose message names the secret (never its value). */
  get(name: string): Promise<string>;
  /**
   * Forgets the cached value, so the next `get` reads the backend again: called when an upstream refused the
   * credential (it may have been rotated, the old value revoked). Backends that cache nothing have none.
   */
  invalidate?(name: string): void;
}

/** In configuration, a value that is read from the secrets provider instead of written in the file. */
export interface SecretReference {
  secret: string;
}
