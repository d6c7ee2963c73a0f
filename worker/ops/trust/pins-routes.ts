import type { Hono } from "hono";
import { OPS_PIN_DECISION_PATH, OPS_PINS_PATH, PinDecisionRequest, WaitingDefinitions } from "../../../contract/ops-trust.ts";
import { printable } from "../../../contract/printable.ts";
import type { EdgeEnv } from "../../env.ts";
import { callOriginForOps, expectStatus } from "../data/origin-call.ts";
import { opsPage } from "../pages/layout.ts";
import { pinsPage } from "../pages/pins.ts";
import { OPS_PINS_DECIDE_PAGE_PATH, OPS_PINS_PAGE_PATH } from "../paths.ts";
import { type Admin, asAdmin, asAdminForm, readable } from "./as-admin.ts";
import { noticeFacts, noticeLocation } from "./sealed-notice.ts";

/** The notice after a decision, by the `decided` the redirect carries. */
const DECIDED = { approve: "Approved", reject: "Rejected", stale: "Nothing decided: it was decided meanwhile" } as const;
const DECISION_FIELDS = ["server", "kind", "name", "fingerprint", "decision"] as const;

/** `/ops/pins`: what waits for a decision, side by side; `/ops/pins/decide`: an Approve or Reject form's POST. */
export function registerOpsPinsRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_PINS_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const { decided, what } = (await noticeFacts(c.req.raw, admin.csrf, OPS_PINS_PAGE_PATH)) ?? {};
      const notice =
        decided && Object.hasOwn(DECIDED, decided)
          ? `${DECIDED[decided as keyof typeof DECIDED]}: ${printable(what ?? "")}.`
          : undefined;
      return pinsPage({ ...view(admin), waiting: await readWaiting(admin), notice });
    }),
  );

  app.post(OPS_PINS_DECIDE_PAGE_PATH, (c) =>
    asAdminForm(c, async (admin, form) => {
      const decision = PinDecisionRequest.safeParse(Object.fromEntries(DECISION_FIELDS.map((key) => [key, form.get(key)])));
      if (!decision.success) return unreadableDecision();
      const status = await readable(async () => {
        const body = decision.data;
        const response = await callOriginForOps(admin.config, admin.reader, OPS_PIN_DECISION_PATH, { method: "POST", body });
        return (await expectStatus(response, OPS_PIN_DECISION_PATH, [200, 409])).status;
      });
      if (typeof status !== "number") return pinsPage({ ...view(admin), waiting: status });
      const { kind, name, server } = decision.data;
      const location = await noticeLocation(admin.csrf, OPS_PINS_PAGE_PATH, {
        decided: status === 409 ? "stale" : decision.data.decision,
        what: `${kind} “${name}” of ${server}`,
      });
      // After a POST, a GET: reloading the list does not decide again.
      const headers = { location, "cache-control": "no-store" };
      return new Response(null, { status: 303, headers });
    }),
  );
}

const view = (admin: Admin) => ({ company: admin.company, user: admin.reader.user, csrf: admin.csrf });

const readWaiting = (admin: Admin) =>
  readable(async () => {
    const response = await callOriginForOps(admin.config, admin.reader, OPS_PINS_PATH, { method: "GET" });
    return WaitingDefinitions.parse(await (await expectStatus(response, OPS_PINS_PATH)).json()).waiting;
  });

const unreadableDecision = () =>
  opsPage(
    "Ops dashboard: bad request",
    `<main><h1>This decision cannot be read</h1><p>Go back to <a href="${OPS_PINS_PAGE_PATH}">the list</a> and choose again.</p></main>`,
    { status: 400 },
  );
