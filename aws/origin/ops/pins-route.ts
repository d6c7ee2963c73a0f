import type { Hono, MiddlewareHandler } from "hono";
import type pg from "pg";
import {
  OPS_PIN_DECISION_PATH,
  OPS_PINS_PATH,
  PinDecisionRequest,
  type WaitingDefinitions,
} from "../../../contract/ops-trust.ts";
import type { AuditStore } from "../audit/store.ts";
import { decidePin, waitingChanges } from "../pinning/pin-decision.ts";
import { createPinStore } from "../pinning/pin-store.ts";
import { sideBySideRows } from "../pinning/side-by-side.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import { opsOnly } from "./ops-only.ts";

type OriginEnv = { Variables: AssertionVariables };

export interface OpsPinsParts {
  db: pg.Pool | undefined;
  /** Writes each decision's audit record in the decision's own transaction. */
  audit: Pick<AuditStore, "insertWith">;
}

/**
 * The review of pinned definitions for /ops: `GET /ops/pins` lists what waits, each beside the approved definition;
 * `POST /ops/pins/decide` approves or rejects one, recorded under the administrator's e-mail from the assertion and
 * audited as the CLI does. Running origins pick the decision up by polling. Without a database, no routes.
 */
export function registerOpsPinsRoutes(app: Hono<OriginEnv>, guarded: MiddlewareHandler<OriginEnv>, parts: OpsPinsParts): void {
  const { db } = parts;
  if (!db) return;
  const store = createPinStore(db);
  const opsAssertion = opsOnly("the review of pinned definitions");

  app.get(OPS_PINS_PATH, guarded, opsAssertion, async (c) => {
    const waiting = waitingChanges(await store.changedSince()).map(({ change, approved }) => ({
      server: change.server,
      kind: change.kind,
      name: change.name,
      change: approved ? ("changed" as const) : ("new" as const),
      fingerprint: change.fingerprint,
      approvedFingerprint: approved?.fingerprint ?? null,
      firstSeen: change.firstSeen.toISOString(),
      rows: sideBySideRows(approved?.definition ?? {}, change.definition),
    }));
    return c.json({ waiting } satisfies WaitingDefinitions, 200, { "cache-control": "no-store" });
  });

  app.post(OPS_PIN_DECISION_PATH, guarded, opsAssertion, async (c) => {
    const by = c.var.assertion.email;
    if (!by) {
      const detail = "a decision is recorded under the administrator's e-mail, and this assertion names none";
      return c.json({ error: "no_email", detail }, 403);
    }
    const request = PinDecisionRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!request.success) {
      const problems = request.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
      return c.json({ error: "invalid_decision", problems }, 400);
    }
    const { decision, ...key } = request.data;
    // Only what waits is decided here (the store would also re-approve a superseded or rejected definition).
    const waiting = waitingChanges(await store.changedSince()).find(
      ({ change }) =>
        change.server === key.server &&
        change.kind === key.kind &&
        change.name === key.name &&
        change.fingerprint === key.fingerprint,
    );
    if (!waiting || !(await decidePin(store, parts.audit, decision, waiting.change, by))) {
      const detail = "nothing waits under that name and fingerprint: it was decided meanwhile; reload the list";
      return c.json({ error: "not_waiting", detail }, 409);
    }
    return c.json({ decided: decision, by });
  });
}
