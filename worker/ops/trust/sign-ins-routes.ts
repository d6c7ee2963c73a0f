import type { Hono } from "hono";
import { recordAudit } from "../../audit/record.ts";
import { escapeHtml } from "../../auth/html.ts";
import { normalizedEmail, type SignedOut, SignOutIncomplete, signOutEverywhere } from "../../auth/user-grants.ts";
import type { EdgeEnv } from "../../env.ts";
import { opsPage } from "../pages/layout.ts";
import { SIGN_OUT_EMAIL_FIELD, signInsPage } from "../pages/sign-ins.ts";
import { OPS_SIGN_INS_PAGE_PATH, OPS_SIGN_INS_SIGN_OUT_PAGE_PATH } from "../paths.ts";
import { type Admin, asAdmin, asAdminForm } from "./as-admin.ts";
import { noticeFacts, noticeLocation } from "./sealed-notice.ts";

/** The longest address RFC 5321 lets through (64 + 1 + 255); anything longer names nobody. */
const MAX_EMAIL_LENGTH = 320;

/**
 * `/ops/sign-ins`: an administrator signs a user out everywhere at the edge (every grant of an e-mail address revoked);
 * `/ops/sign-ins/sign-out`: its form's POST. Administrators only, the form only with the session's CSRF token.
 */
export function registerOpsSignInsRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_SIGN_INS_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const facts = (await noticeFacts(c.req.raw, admin.csrf, OPS_SIGN_INS_PAGE_PATH)) ?? {};
      return signInsPage({ ...view(admin), notice: noticeOf(facts) });
    }),
  );

  app.post(OPS_SIGN_INS_SIGN_OUT_PAGE_PATH, (c) =>
    asAdminForm(c, async (admin, form) => {
      const started = Date.now();
      const given = form.get(SIGN_OUT_EMAIL_FIELD);
      const email = typeof given === "string" ? normalizedEmail(given) : "";
      if (!readableEmail(email)) return unreadableEmail();
      const ctx = c.executionCtx as ExecutionContext;
      const audit = ({ revoked, subs }: SignedOut, outcome: "ok" | "error", httpStatus: number) =>
        recordAudit(c.env, ctx, {
          kind: "auth.user_signed_out",
          outcome,
          userEmail: email,
          userSub: subs[0],
          clientId: `operator:${admin.reader.user.email ?? admin.reader.user.sub}`,
          ...(revoked > 0 ? { count: revoked } : {}),
          // Only for the odd IdP that gave one address more than one subject: every one of them is named.
          ...(subs.length > 1 ? { arguments: { subs } } : {}),
          httpStatus,
          latencyMs: Date.now() - started,
        });
      let signedOut: SignedOut;
      try {
        signedOut = await signOutEverywhere(c.env, ctx, admin.config, email);
      } catch (error) {
        // What was revoked before the failure is recorded too; the administrator is told and may try again.
        if (!(error instanceof SignOutIncomplete)) throw error;
        audit(error.done, "error", 500);
        console.error(`ops: ${error.message}`);
        return signOutStopped(email, error.done.revoked);
      }
      audit(signedOut, "ok", 303);
      const { revoked } = signedOut;
      // After a POST, a GET: reloading the page does not sign anyone out again.
      const headers = {
        location: await noticeLocation(admin.csrf, OPS_SIGN_INS_PAGE_PATH, { revoked: String(revoked), who: email }),
        "cache-control": "no-store",
      };
      return new Response(null, { status: 303, headers });
    }),
  );
}

const view = (admin: Admin) => ({
  company: admin.company,
  user: admin.reader.user,
  csrf: admin.csrf,
  tokenCacheSeconds: admin.config.tokenCacheSeconds,
});

/** An address as the form's `type="email"` would take it: one `@` between something, no spaces or controls. */
const readableEmail = (email: string) => email.length <= MAX_EMAIL_LENGTH && /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u.test(email);

/** The sentence after a sign-out, from the facts its redirect signed. */
function noticeOf(facts: Record<string, string>): string | undefined {
  const { revoked, who } = facts;
  if (revoked === undefined || !who) return undefined;
  const count = Number(revoked);
  if (!(count > 0)) return `No sign-ins found for ${who}: nothing was revoked.`;
  return `Signed ${who} out everywhere: ${count} ${count === 1 ? "sign-in" : "sign-ins"} revoked.`;
}

/**
 * A sign-out that failed part of the way: how far it got, and that the rest may still be signed in. Trying again
 * revokes what is left (what is revoked is gone from the lists it reads).
 */
const signOutStopped = (email: string, revoked: number) =>
  opsPage(
    "Ops dashboard: sign-out incomplete",
    `<main><h1>Signing out stopped part of the way</h1><p role="alert" class="problem">${escapeHtml(
      `${revoked} ${revoked === 1 ? "sign-in" : "sign-ins"} of ${email} revoked before a failure (the edge's log says which): the rest may still be signed in.`,
    )}</p><p>Go back to <a href="${OPS_SIGN_INS_PAGE_PATH}">the sign-ins</a> and sign ${escapeHtml(email)} out again: it revokes what is left.</p></main>`,
    { status: 500 },
  );

const unreadableEmail = () =>
  opsPage(
    "Ops dashboard: bad request",
    `<main><h1>This e-mail address cannot be read</h1><p>Go back to <a href="${OPS_SIGN_INS_PAGE_PATH}">the sign-ins</a> and type the user's address.</p></main>`,
    { status: 400 },
  );
