import type { Context, Hono } from "hono";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import {
  DRY_RUN_DEFAULT_DAYS,
  DRY_RUN_MAX_DAYS,
  DryRunRefusal,
  DryRunReport,
  OPS_DRY_RUN_PATH,
  OPS_PIN_DECISION_PATH,
  OPS_PINS_PATH,
  PinDecisionRequest,
  WaitingDefinitions,
} from "../../contract/ops-trust.ts";
import { companyName } from "../auth/consent-page.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv, UserProps } from "../env.ts";
import { callOriginForOps, expectStatus } from "./data/origin-call.ts";
import { OpsSourceError } from "./data/source.ts";
import { dryRunPage } from "./pages/dry-run.ts";
import { opsPage } from "./pages/layout.ts";
import { pinsPage } from "./pages/pins.ts";
import { refusedPage } from "./pages/refused.ts";
import { OPS_DRY_RUN_PAGE_PATH, OPS_PINS_DECIDE_PAGE_PATH, OPS_PINS_PAGE_PATH } from "./paths.ts";
import { readCookie } from "./sign-in/cookies.ts";
import { csrfToken, isSameSessionForm } from "./sign-in/csrf.ts";
import { opsCaller } from "./sign-in/ops-caller.ts";
import { startOpsSignIn } from "./sign-in/start-sign-in.ts";

type OpsContext = Context<{ Bindings: EdgeEnv }>;
interface Admin {
  config: EdgeConfig;
  reader: { user: UserProps; clientId: string };
  company: string;
  csrf: string;
}

/** Words for the notice after a decision. */
const DECIDED = { approve: "Approved", reject: "Rejected", stale: "Nothing decided: it was decided meanwhile" } as const;

/**
 * The dashboard's trust controls: pinned definitions waiting for a decision (with Approve and Reject) and the policy
 * dry run. Pages for a signed-in `mcp:admin` only; every POST carries the session's CSRF token.
 */
export function registerOpsTrustRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_PINS_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const decided = c.req.query("decided");
      const notice =
        decided && Object.hasOwn(DECIDED, decided)
          ? `${DECIDED[decided as keyof typeof DECIDED]}: ${c.req.query("what") ?? ""}.`
          : undefined;
      const waiting = await readable(async () => {
        const response = await expectStatus(
          await callOriginForOps(admin.config, admin.reader, OPS_PINS_PATH, { method: "GET" }),
          OPS_PINS_PATH,
        );
        return WaitingDefinitions.parse(await response.json()).waiting;
      });
      return pinsPage({ company: admin.company, user: admin.reader.user, waiting, csrf: admin.csrf, notice });
    }),
  );

  app.post(OPS_PINS_DECIDE_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const form = await c.req.raw.formData();
      if (!(await isSameSessionForm(c.req.raw, form, admin.config))) return forgedForm();
      const decision = PinDecisionRequest.safeParse(
        Object.fromEntries(["server", "kind", "name", "fingerprint", "decision"].map((key) => [key, form.get(key)])),
      );
      if (!decision.success)
        return opsPage(
          "Ops dashboard: bad request",
          "<main><h1>This decision cannot be read</h1><p>Go back to the list and choose again.</p></main>",
          { status: 400 },
        );
      const answer = await readable(async () => {
        const response = await callOriginForOps(admin.config, admin.reader, OPS_PIN_DECISION_PATH, {
          method: "POST",
          body: decision.data,
        });
        return (await expectStatus(response, OPS_PIN_DECISION_PATH, [200, 409])).status;
      });
      const { kind, name, server } = decision.data;
      const what = `${kind} “${name}” of ${server}`;
      if (typeof answer !== "number")
        return pinsPage({ company: admin.company, user: admin.reader.user, waiting: answer, csrf: admin.csrf });
      const query = new URLSearchParams({ decided: answer === 409 ? "stale" : decision.data.decision, what });
      // After a POST, a GET: reloading the list does not decide again.
      return new Response(null, {
        status: 303,
        headers: { location: `${OPS_PINS_PAGE_PATH}?${query}`, "cache-control": "no-store" },
      });
    }),
  );

  app.get(OPS_DRY_RUN_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) =>
      dryRunPage({
        company: admin.company,
        user: admin.reader.user,
        csrf: admin.csrf,
        candidate: "",
        days: DRY_RUN_DEFAULT_DAYS,
      }),
    ),
  );

  app.post(OPS_DRY_RUN_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const form = await c.req.raw.formData();
      if (!(await isSameSessionForm(c.req.raw, form, admin.config))) return forgedForm();
      const candidate = String(form.get("candidate") ?? "");
      const days = Number(form.get("days"));
      const view = {
        company: admin.company,
        user: admin.reader.user,
        csrf: admin.csrf,
        candidate,
        days: Number.isInteger(days) ? days : DRY_RUN_DEFAULT_DAYS,
      };
      if (!(Number.isInteger(days) && days >= 1 && days <= DRY_RUN_MAX_DAYS))
        return dryRunPage({
          ...view,
          outcome: { problems: [`days: expected a whole number from 1 to ${DRY_RUN_MAX_DAYS}`] },
          status: 400,
        });
      const outcome = await readable(async () => {
        const response = await expectStatus(
          await callOriginForOps(admin.config, admin.reader, OPS_DRY_RUN_PATH, { method: "POST", body: { candidate, days } }),
          OPS_DRY_RUN_PATH,
          [200, 400],
        );
        if (response.status === 400) return { problems: DryRunRefusal.parse(await response.json()).problems };
        return { report: DryRunReport.parse(await response.json()) };
      });
      const refused = "problems" in outcome || "problem" in outcome;
      return dryRunPage({ ...view, outcome, status: refused ? 400 : 200 });
    }),
  );
}

/** Runs `page` for a signed-in administrator; anyone else is sent to sign in or refused, and nothing reaches the origin. */
async function asAdmin(c: OpsContext, page: (admin: Admin) => Promise<Response>): Promise<Response> {
  const config = edgeConfig(c.env);
  const caller = await opsCaller(c.req.raw, config, c.env);
  if (caller.kind === "signed-out") return startOpsSignIn(config, c.env, { forgetSession: true });
  if (caller.kind === "not-admin") return refusedPage(caller.user, config.adminGroups);
  const session = readCookie(c.req.raw, config, "session") ?? "";
  const reader = { user: caller.user, clientId: caller.clientId };
  return page({ config, reader, company: companyName(config), csrf: await csrfToken(session) });
}

/** A POST without this session's token: another site's form, or a page from an earlier session. */
const forgedForm = () =>
  opsPage(
    "Ops dashboard: form refused",
    `<main><h1>This form was refused</h1><p>It did not come from this session's page (its security token is missing or wrong). Open <a href="${OPS_PINS_PAGE_PATH}">the page</a> again and resubmit.</p></main>`,
    { status: 403 },
  );

/** The answer, or what the page should say instead of it. */
async function readable<T>(read: () => Promise<T>): Promise<T | { problem: string }> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof OpsSourceError) return { problem: error.message };
    console.error(`ops dashboard: unexpected answer from the origin: ${(error as Error).stack ?? String(error)}`);
    return { problem: "the origin gave an answer the dashboard could not read (the edge's log has the details)" };
  }
}
