import type { UpstreamServer } from "../../../contract/config/schema.ts";

/** `relay.connectTimeoutSeconds`' default, for hosts made without it. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** The longest the era probe (`server/discover`) is waited for, within the deadline. */
const MAX_PROBE_MS = 10_000;

/** What most often keeps a handshake from ending, by transport: the cause the operator should look at first. */
const LIKELY_CAUSE = {
  stdio: "the command runs but does not answer on its stdout as an MCP server does (its stderr, in this log, may say why)",
  http: "the server at its URL does not answer as an MCP endpoint does",
} as const;

/**
 * The deadline of a new upstream connection's MCP handshake: the SDK's own would let a silent child hold its first
 * caller for two minutes (a request timeout for the era probe, another for `initialize`) and then say only that a
 * request timed out. `failure` is the error that replaces the SDK's once `signal` fired.
 */
export function connectDeadline(
  spec: UpstreamServer,
  ms: number,
): { signal: AbortSignal; probeTimeoutMs: number; failure: () => Error } {
  return {
    signal: AbortSignal.timeout(ms),
    // A stdio server silent on the era probe is a 2025-era one: its `initialize` must still fit in the deadline.
    probeTimeoutMs: Math.min(MAX_PROBE_MS, Math.floor(ms / 3)),
    failure: () =>
      new Error(`no MCP handshake within ${ms / 1000} s (relay.connectTimeoutSeconds): ${LIKELY_CAUSE[spec.transport]}`),
  };
}
