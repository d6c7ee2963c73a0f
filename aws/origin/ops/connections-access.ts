import { createMiddleware } from "hono/factory";
import type { AssertionVariables } from "../trust/require-assertion.ts";

/** Who reads or revokes connections, and whose: everyone's (an administrator) or only their own. */
export interface ConnectionsReader {
  scope: "all" | "own";
  sub: string;
  /** Revocations are recorded under it, and a user's own rows are found by it. */
  email: string;
}

/** What each assertion purpose opens here; any other purpose opens nothing. */
const SCOPE_OF_PURPOSE: Partial<Record<AssertionVariables["assertion"]["purpose"], ConnectionsReader["scope"]>> = {
  ops: "all",
  "own-connections": "own",
};

/**
 * Behind the edge assertion: an `ops` assertion (the edge mints one only for a signed-in `mcp:admin`) reaches every
 * user's connections, an `own-connections` one only its own user's; both must name an e-mail.
 */
export const connectionsAccess = createMiddleware<{ Variables: AssertionVariables & { connectionsReader: ConnectionsReader } }>(
  async (c, next) => {
    const { purpose, sub, email } = c.var.assertion;
    const scope = SCOPE_OF_PURPOSE[purpose];
    if (!scope) {
      const detail = `upstream connections need an assertion with purpose "ops" or "own-connections"; this one's purpose is "${purpose}"`;
      return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
    }
    if (!email) {
      const detail = "connections are found and revocations recorded by e-mail, and this assertion names none";
      return c.json({ error: "no_email", detail }, 403);
    }
    c.set("connectionsReader", { scope, sub, email });
    return next();
  },
);
