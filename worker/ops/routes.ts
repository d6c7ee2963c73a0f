import type { Hono } from "hono";
import { isOpsWindow, type OpsWindow } from "../../contract/ops-stats.ts";
import { spooledNow } from "../audit/spool.ts";
import { edgeConfig } from "../config.ts";
import type { EdgeEnv } from "../env.ts";
import { readAuditQueues } from "./data/queue-depth.ts";
import { opsDataSource } from "./data/select-source.ts";
import { OpsSourceError } from "./data/source.ts";
import { dashboardPage } from "./pages/dashboard.ts";
import { OPS_STYLE } from "./pages/style.ts";
import { TAIL_COLUMNS } from "./pages/tables.ts";
import { TAIL_SCRIPT } from "./pages/tail-script.ts";
import {
  OPS_CALLBACK_PATH,
  OPS_PATH,
  OPS_SCRIPT_PATH,
  OPS_SIGN_IN_PATH,
  OPS_SIGN_OUT_PATH,
  OPS_SIGNED_OUT_PATH,
  OPS_STYLE_PATH,
  OPS_TAIL_PATH,
} from "./paths.ts";
import { clearCookie } from "./sign-in/cookies.ts";
import { finishOpsSignIn } from "./sign-in/finish-sign-in.ts";
import { opsCaller } from "./sign-in/ops-caller.ts";
import { PAGES_OF_ADDRESSES } from "./sign-in/return-path.ts";
import { signedOutOfOps, signOutOfOps } from "./sign-in/sign-out.ts";
import { startOpsSignIn } from "./sign-in/start-sign-in.ts";
import { asAdmin } from "./trust/as-admin.ts";
import { registerOpsConnectionsRoutes } from "./trust/connections-routes.ts";

/** Rows in the live tail. */
const TAIL_ROWS = 20;
const DEFAULT_WINDOW: OpsWindow = "24h";

/** The ops dashboard's routes: the page, its sign-in and sign-out, the live tail's data, and its style and script. */
export function registerOpsRoutes(app: Hono<{ Bindings: EdgeEnv }>): void {
  app.get(OPS_PATH, (c) =>
    asAdmin(c, async (admin) => {
      const requested = c.req.query("window");
      const window = isOpsWindow(requested) ? requested : DEFAULT_WINDOW;
      const source = opsDataSource(admin.config, admin.reader);
      const [stats, tail, auditQueues, spooled] = await Promise.all([
        readable(source.stats(window)),
        readable(source.tail(TAIL_ROWS)),
        readAuditQueues(admin.config),
        spooledNow(c.env),
      ]);
      return dashboardPage({
        company: admin.company,
        user: admin.reader.user,
        window,
        stats,
        tail,
        sourceDescription: source.description,
        auditQueues: { ...auditQueues, ...(spooled && { spooled }) },
        csrf: admin.csrf,
      });
    }),
  );
  // The session stays until the new sign-in replaces it: a GET any site can send a browser to must not end it.
  // `next`: the dashboard page to return to, one of its own (return-path.ts), else /ops.
  app.get(OPS_SIGN_IN_PATH, (c) =>
    startOpsSignIn(c.req.raw, edgeConfig(c.env), c.env, {
      returnTo: c.req.query("next"),
      chooseAccount: c.req.query("account") === "choose",
    }),
  );
  app.post(OPS_SIGN_OUT_PATH, (c) => signOutOfOps(c.req.raw, edgeConfig(c.env), c.env));
  app.get(OPS_SIGNED_OUT_PATH, (c) => signedOutOfOps(c.req.raw, edgeConfig(c.env), c.env));
  app.get(OPS_CALLBACK_PATH, (c) => finishOpsSignIn(c.req.raw, edgeConfig(c.env), c.env, c.executionCtx as ExecutionContext));

  app.get(OPS_TAIL_PATH, async (c) => {
    const config = edgeConfig(c.env);
    const caller = await opsCaller(c.req.raw, config, c.env);
    // It holds users' e-mails and client ids clients chose: no browser may read it as anything but JSON.
    const headers = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
    if (caller.kind === "signed-out")
      return c.json({ error: "sign in at /ops" }, 401, { ...headers, "set-cookie": clearCookie(config, "session") });
    if (caller.kind === "not-admin") return c.json({ error: "the ops dashboard needs the mcp:admin scope" }, 403, headers);
    const tail = await readable(opsDataSource(config, caller).tail(TAIL_ROWS));
    if ("problem" in tail) return c.json({ error: tail.problem }, 502, headers);
    const rows = tail.map((call) => TAIL_COLUMNS.map((column) => column.cell(call)));
    return c.json({ rows, numeric: TAIL_COLUMNS.map((column) => column.numeric ?? false) }, 200, headers);
  });

  const asset = (body: string, type: string) => () =>
    new Response(body, {
      headers: { "content-type": type, "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" },
    });
  for (const [address, page] of PAGES_OF_ADDRESSES) app.get(address, (c) => c.redirect(page, 303));
  app.get(OPS_STYLE_PATH, asset(OPS_STYLE, "text/css; charset=utf-8"));
  app.get(OPS_SCRIPT_PATH, asset(TAIL_SCRIPT, "text/javascript; charset=utf-8"));
  registerOpsConnectionsRoutes(app);
}

/** A source's answer, or what the page should say instead of it. */
async function readable<T>(answer: Promise<T>): Promise<T | { problem: string }> {
  try {
    return await answer;
  } catch (error) {
    if (error instanceof OpsSourceError) return { problem: error.message };
    console.error(`ops dashboard: unexpected answer from its source: ${(error as Error).stack ?? String(error)}`);
    return { problem: "its source gave an answer the dashboard could not read (the edge's log has the details)" };
  }
}
