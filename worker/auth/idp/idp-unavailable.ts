import { errors } from "jose";

/**
 * The identity provider could not be asked (its token endpoint or key set unreachable, too slow, or answering 5xx):
 * an outage, not a refusal of the person or of a forged code. The audit tells them apart (`unavailable` against
 * `denied`): during a provider incident every sign-in fails, and none of them is an attack (s25 review F2).
 */
export class IdpUnavailable extends Error {}

/** Whether a failed identity-provider step failed for the provider's absence rather than for what it was shown. */
export function providerUnreachable(error: unknown): boolean {
  return (
    error instanceof IdpUnavailable ||
    error instanceof errors.JWKSTimeout ||
    // fetch's own failures: a refused or reset connection (TypeError), its AbortSignal.timeout (TimeoutError).
    error instanceof TypeError ||
    (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError"))
  );
}
