import type { Hono } from "hono";
import {
  DRY_RUN_DEFAULT_DAYS,
  DRY_RUN_MAX_DAYS,
  DryRunRefusal,
  DryRunReport,
  OPS_DRY_RUN_PATH,
} from "../../../contract/ops-trust.ts";
import type { EdgeEnv } from "../../env.ts";
import { callOriginForOps, expectStatus } from "../data/origin-call.ts";
import { dryRunPage } from "../pages/dry-run.ts";
import { OPS_DRY_RUN_PAGE_PATH } from "../paths.ts";
import { type Admin, asAdmin, asAdminForm, readable } from "./as-admin.ts";

/** `/ops/policy`: the dry run's form (GET) and, posted, its report or the candidate's problems. */
export function registerOpsDryRunRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_DRY_RUN_PAGE_PATH, (c) =>
    asAdmin(c, async (admin) => dryRunPage({ ...view(admin), candidate: "", days: DRY_RUN_DEFAULT_DAYS })),
  );

  app.post(OPS_DRY_RUN_PAGE_PATH, (c) =>
    asAdminForm(c, async (admin, form) => {
      const candidate = String(form.get("candidate") ?? "");
      const days = Number(form.get("days"));
      const filled = { ...view(admin), candidate, days: Number.isInteger(days) ? days : DRY_RUN_DEFAULT_DAYS };
      if (!(Number.isInteger(days) && days >= 1 && days <= DRY_RUN_MAX_DAYS)) {
        const problems = [`days: expected a whole number from 1 to ${DRY_RUN_MAX_DAYS}`];
        return dryRunPage({ ...filled, outcome: { problems }, status: 400 });
      }
      const outcome = await runDryRun(admin, candidate, days);
      return dryRunPage({ ...filled, outcome, status: "report" in outcome ? 200 : 400 });
    }),
  );
}

const view = (admin: Admin) => ({ company: admin.company, user: admin.reader.user, csrf: admin.csrf });

/** The origin's report, the candidate's problems it named, or why the run failed. */
const runDryRun = (admin: Admin, candidate: string, days: number) =>
  readable(async () => {
    const body = { candidate, days };
    const response = await callOriginForOps(admin.config, admin.reader, OPS_DRY_RUN_PATH, { method: "POST", body });
    await expectStatus(response, OPS_DRY_RUN_PATH, [200, 400]);
    if (response.status === 400) return { problems: DryRunRefusal.parse(await response.json()).problems };
    return { report: DryRunReport.parse(await response.json()) };
  });
