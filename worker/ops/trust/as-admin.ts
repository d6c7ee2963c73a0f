import type { Context } from "hono";
import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { companyName } from "../../auth/consent-page.ts";
import { edgeConfig } from "../../config.ts";
import type { EdgeEnv, UserProps } from "../../env.ts";
import { postedForm } from "../../http/posted-form.ts";
import { OpsSourceError } from "../data/source.ts";
import { opsPage } from "../pages/layout.ts";
import { refusedPage } from "../pages/refused.ts";
import { OPS_DRY_RUN_PAGE_PATH, OPS_PINS_PAGE_PATH, OPS_SIGN_INS_PAGE_PATH, OPS_SIGN_INS_SIGN_OUT_PAGE_PATH } from "../paths.ts";
import { readCookie } from "../sign-in/cookies.ts";
import { csrfToken, type FormSource, formRefusalReason, formSource } from "../sign-in/csrf.ts";
import { opsCaller } from "../sign-in/ops-caller.ts";
import { startOpsSignIn } from "../sign-in/start-sign-in.ts";

export type OpsContext = Context<{ Bindings: EdgeEnv }>;

/** The signed-in administrator a trust page is for, and what every page needs. */
export interface Admin {
  config: EdgeConfig;
  reader: { user: UserProps; clientId: string };
  company: string;
  /** This session's CSRF token, for the page's forms. */
  csrf: string;
}

/** Runs `page` for a signed-in administrator; anyone else is sent to sign in or refused, and nothing reaches the origin. */
export async function asAdmin(c: OpsContext, page: (admin: Admin) => Promise<Response>): Promise<Response> {
  const config = edgeConfig(c.env);
  const caller = await opsCaller(c.req.raw, config, c.env);
  if (caller.kind === "signed-out")
    return startOpsSignIn(c.req.raw, config, c.env, { forgetSession: true, returnTo: new URL(c.req.url).pathname });
  if (caller.kind === "not-admin") return refusedPage(caller.user, config.adminGroups);
  const session = readCookie(c.req.raw, config, "session") ?? "";
  const reader = { user: caller.user, clientId: caller.clientId };
  return page({ config, reader, company: companyName(config), csrf: await csrfToken(session) });
}

/**
 * Runs `act` with the posted form of an administrator, only when it carries this session's CSRF token; a form
 * without it (another site's, or a page of an earlier session) is refused before anything reaches the origin.
 */
export const asAdminForm = (c: OpsContext, act: (admin: Admin, form: FormData) => Promise<Response>): Promise<Response> =>
  asAdmin(c, async (admin) => {
    const form = await postedForm(c.req.raw);
    const source = await formSource(c.req.raw, form, admin.config);
    if (source !== "same") return forgedForm(c.req.path, source);
    return act(admin, form);
  });

/** The page each form is on, to open again after a refusal. */
const FORM_PAGES: Record<string, string> = {
  [OPS_DRY_RUN_PAGE_PATH]: OPS_DRY_RUN_PAGE_PATH,
  [OPS_SIGN_INS_SIGN_OUT_PAGE_PATH]: OPS_SIGN_INS_PAGE_PATH,
};

const forgedForm = (path: string, source: Exclude<FormSource, "same">) =>
  opsPage(
    "Ops dashboard: form refused",
    `<main><h1>This form was refused</h1><p>${formRefusalReason(source)}. Open <a href="${FORM_PAGES[path] ?? OPS_PINS_PAGE_PATH}">the page</a> again and resubmit.</p></main>`,
    { status: 403 },
  );

/** The origin's answer, or what the page should say instead of it. */
export async function readable<T>(read: () => Promise<T>): Promise<T | { problem: string }> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof OpsSourceError) return { problem: error.message };
    console.error(`ops dashboard: unexpected answer from the origin: ${(error as Error).stack ?? String(error)}`);
    return { problem: "the origin gave an answer the dashboard could not read (the edge's log has the details)" };
  }
}
