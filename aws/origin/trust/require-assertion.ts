import { createMiddleware } from "hono/factory";
import { EDGE_ASSERTION_HEADER } from "../../../contract/edge-assertion.ts";
import { AssertionRejected, type VerifiedAssertion } from "./verify-assertion.ts";

export type AssertionVariables = { assertion: VerifiedAssertion };

/** Hono middleware: nothing behind it runs without a valid, unused edge assertion. */
export function requireAssertion(verify: (token: string | undefined) => Promise<VerifiedAssertion>) {
  return createMiddleware<{ Variables: AssertionVariables }>(async (c, next) => {
    try {
      c.set("assertion", await verify(c.req.header(EDGE_ASSERTION_HEADER)));
    } catch (error) {
      if (!(error instanceof AssertionRejected)) throw error;
      console.warn(error.message);
      return c.json({ error: "invalid_edge_assertion", reason: error.reason }, 401);
    }
    await next();
  });
}
