import type { Hono, MiddlewareHandler } from "hono";
import type pg from "pg";
import { isOpsWindow, OPS_STATS_PATH, OPS_WINDOW_NAMES } from "../../../contract/ops-stats.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { opsOnly } from "./ops-only.ts";
import { readOpsStats } from "./stats.ts";

type OriginEnv = { Variables: AssertionVariables };

/**
 * `GET /ops/stats?window=1h|24h|7d`: the ops dashboard's aggregates from the audit trail, behind the edge assertion
 * with `purpose: "ops"` (the edge mints one only for a signed-in `mcp:admin`). Without a database, no route.
 */
export function registerOpsStatsRoute(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  db: pg.Pool | undefined,
): void {
  if (!db) return;
  app.get(OPS_STATS_PATH, guarded, opsOnly("the ops dashboard's figures"), async (c) => {
    const window = c.req.query("window") ?? "24h";
    if (!isOpsWindow(window))
      return c.json(
        { error: "invalid_window", detail: `window: expected one of ${OPS_WINDOW_NAMES.join(", ")}; got "${window}"` },
        400,
      );
    return c.json(await readOpsStats(db, window, new Date()), 200, { "cache-control": "no-store" });
  });
}
