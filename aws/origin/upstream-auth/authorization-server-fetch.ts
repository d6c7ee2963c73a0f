import type { FetchLike } from "@modelcontextprotocol/client";

/** The longest an upstream's authorization server may take to answer one call (discovery, registration, tokens). */
export const AUTHORIZATION_SERVER_TIMEOUT_MS = 10_000;

/**
 * The fetch every call to an upstream's authorization server goes through: one that does not answer in time fails
 * that step instead of holding it open. A user's call waits on it, and a refresh keeps the user's row marked while it
 * waits (TokenVault.beginRefresh): a silent server must cost a clear error, not a request that never ends.
 */
export const authorizationServerFetch: FetchLike = (url, init) => {
  const timeout = AbortSignal.timeout(AUTHORIZATION_SERVER_TIMEOUT_MS);
  return fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
};
