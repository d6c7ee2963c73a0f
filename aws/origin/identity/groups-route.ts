import type { Hono, MiddlewareHandler } from "hono";
import {
  ACCOUNT_BY_SUB,
  IDENTITY_GROUPS_ACCOUNT_BY_PARAMETER,
  IDENTITY_GROUPS_MAX_AGE_PARAMETER,
  IDENTITY_GROUPS_PATH,
  type IdentityGroups,
} from "../../../contract/identity-groups.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import type { GroupLookUp } from "./google/google-groups.ts";
import { GoogleStepFailed } from "./google/google-step.ts";

type OriginEnv = { Variables: AssertionVariables };

/** What the edge is told to wait before asking again while Google is unavailable. */
const GOOGLE_RETRY_AFTER_SECONDS = 10;

/**
 * `GET /identity/groups`: the Google Workspace groups of the user the edge assertion names (its `email`; a user named
 * anywhere else in the request is ignored), for an assertion minted for this purpose only (`purpose: "groups"`).
 * Answers `{ groups, source, checkedAt }`, `checkedAt` being when the Directory said so (epoch seconds), and with
 * `google.checkAccounts` the user's `account` state (contract/identity-groups.ts): with `accountBy=sub`, that of the
 * account whose unique id is the assertion's `sub`, said so by `accountBy: "sub"` (an edge that does not ask gets the
 * address's, as before).
 */
export function registerGroupsRoute(app: Hono<OriginEnv>, guarded: MiddlewareHandler<OriginEnv>, lookUp?: GroupLookUp): void {
  app.get(IDENTITY_GROUPS_PATH, guarded, async (c) => {
    const { purpose, email, sub } = c.var.assertion;
    if (purpose !== "groups") {
      const detail = `group look-up needs an assertion with purpose "groups"; this one's purpose is "${purpose}"`;
      return c.json({ error: "invalid_edge_assertion", reason: "purpose", detail }, 403);
    }
    if (!email) return c.json({ error: "no_email", message: "the assertion names no e-mail address to look up" }, 400);
    if (!lookUp) {
      const message = "this origin has no Google Workspace look-up: set origin.google (docs/google-workspace.md)";
      return c.json({ error: "not_configured", message }, 404);
    }
    try {
      const bySub = c.req.query(IDENTITY_GROUPS_ACCOUNT_BY_PARAMETER) === ACCOUNT_BY_SUB;
      const maxAgeMs = maxAgeMsOf(c.req.query(IDENTITY_GROUPS_MAX_AGE_PARAMETER));
      const found = await lookUp(email.toLowerCase(), maxAgeMs, bySub ? sub : undefined);
      const answer: IdentityGroups = {
        groups: found.value,
        source: "google-directory",
        checkedAt: Math.floor(found.foundAt / 1000),
        ...(found.account && { account: found.account, ...(bySub && { accountBy: ACCOUNT_BY_SUB }) }),
      };
      return c.json(answer, 200, { "cache-control": "no-store" });
    } catch (error) {
      if (!(error instanceof GoogleStepFailed)) throw error;
      console.error(error.message);
      const body = {
        error: error.unavailable ? "google_unavailable" : "google_refused",
        step: error.step,
        message: error.message,
      };
      // Unavailable: retry soon. Refused: a configuration to fix at Google or in the origin's, not worth a quick retry.
      if (error.unavailable) return c.json(body, 503, { "retry-after": String(GOOGLE_RETRY_AFTER_SECONDS) });
      return c.json(body, 502);
    }
  });
}

/** The edge's bound on a cached answer's age, when it gives a whole number of seconds; else the cache's own. */
function maxAgeMsOf(given: string | undefined): number | undefined {
  const seconds = given === undefined || !/^\d{1,9}$/.test(given) ? undefined : Number(given);
  return seconds === undefined ? undefined : seconds * 1000;
}
