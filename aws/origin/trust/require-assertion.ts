import { createMiddleware } from "hono/factory";
import { EDGE_ASSERTION_HEADER } from "../../../contract/edge-assertion.ts";
import { BoundReplayGuardFull } from "./bound-replay-guard.ts";
import { EdgeKeySetUnavailable } from "./jwks.ts";
import { AssertionRejected, REJECTION_REASONS, type VerifiedAssertion } from "./verify-assertion.ts";

/** What a caller is told to wait when this instance holds as many bound assertions as it may. */
const FULL_RETRY_AFTER_SECONDS = 5;

export type AssertionVariables = { assertion: VerifiedAssertion };

/**
 * Why an assertion was refused: a verifier's reason, `full` when the bound replay guard holds all it may, or `keyset`
 * when the edge's key set could not be read (no assertion can be checked).
 */
export const REFUSAL_REASONS = [...REJECTION_REASONS, "full", "keyset"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Hono middleware: nothing behind it runs without a valid, unused edge assertion. `refused` hears each refusal (metrics). */
export function requireAssertion(
  verify: (token: string | undefined) => Promise<VerifiedAssertion>,
  refused: (reason: RefusalReason) => void = () => {},
) {
  return createMiddleware<{ Variables: AssertionVariables }>(async (c, next) => {
    try {
      c.set("assertion", await verify(c.req.header(EDGE_ASSERTION_HEADER)));
    } catch (error) {
      if (error instanceof BoundReplayGuardFull) {
        refused("full");
        console.error(error.message);
        return c.json({ error: "busy", message: error.message }, 503, { "retry-after": String(FULL_RETRY_AFTER_SECONDS) });
      }
      if (error instanceof EdgeKeySetUnavailable) {
        refused("keyset");
        console.error(error.message);
        throw error; // answered as the origin unavailable (app.ts): on an MCP path, in JSON-RPC
      }
      if (!(error instanceof AssertionRejected)) throw error;
      refused(error.reason);
      console.warn(error.message);
      // Bound to another instance is not a forgery: the balancer moved the user, and the edge sends it again.
      return c.json({ error: "invalid_edge_assertion", reason: error.reason }, error.reason === "instance" ? 421 : 401);
    }
    await next();
  });
}
