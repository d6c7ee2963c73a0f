import { createMiddleware } from "hono/factory";
import type { AssertionVariables } from "../trust/require-assertion.ts";

/**
 * Behind the edge assertion: only an assertion with `purpose: "ops"` (the edge mints one only for a signed-in
 * `mcp:admin`) goes on; `what` names the route's purpose in the refusal.
 */
export const opsOnly = (what: string) =>
  createMiddleware<{ Variables: AssertionVariables }>(async (c, next) => {
    const { purpose } = c.var.assertion;
    if (purpose === "ops") return next();
    const detail = `${what} need an assertion with purpose "ops"; this one's purpose is "${purpose}"`;
    return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
  });
