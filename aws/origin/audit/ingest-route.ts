import type { Hono, MiddlewareHandler } from "hono";
import { AUDIT_INGEST_PATH, AuditEvent, type AuditEventsRefused, AuditIngestBody } from "../../../contract/audit-event.ts";
import type { AuditIngestMetrics } from "../metrics/audit.ts";
import type { AssertionVariables } from "../trust/require-assertion.ts";
import type { AuditStore } from "./store.ts";

type OriginEnv = { Variables: AssertionVariables };

/** The most problems named per refused event, and events whose problems are logged: enough to see the cause. */
const PROBLEMS_SHOWN = 5;

/**
 * `POST /audit/events`: the edge's audit delivery (purpose `audit-delivery` only). Each event is checked alone: the
 * valid ones are stored (by id, once), and if any was refused the answer is 422 naming them by their place in the
 * batch, and the origin's log says why; a body that is no batch at all is refused whole (400).
 */
export function registerAuditIngestRoute(
  app: Hono<OriginEnv>,
  guarded: MiddlewareHandler<OriginEnv>,
  store: Pick<AuditStore, "insert">,
  metrics?: AuditIngestMetrics,
): void {
  app.post(AUDIT_INGEST_PATH, guarded, async (c) => {
    if (c.var.assertion.purpose !== "audit-delivery")
      return c.json(
        { error: "invalid_edge_assertion", reason: "purpose", detail: "only the edge's audit delivery may post audit events" },
        403,
      );
    const body = AuditIngestBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      metrics?.invalid();
      const problems = body.error.issues.slice(0, PROBLEMS_SHOWN).map(problemOf);
      console.warn(`audit ingest: refused a request that is no batch of events: ${problems.join("; ")}`);
      return c.json({ error: "invalid_audit_batch", problems }, 400);
    }
    const checked = body.data.events.map((event) => AuditEvent.safeParse(event));
    const valid = checked.flatMap((result) => (result.success ? [result.data] : []));
    const refused = checked.flatMap((result, index) =>
      result.success ? [] : [{ index, problems: result.error.issues.slice(0, PROBLEMS_SHOWN).map(problemOf) }],
    );
    metrics?.received(valid.length);
    const stored = await store.insert(valid);
    metrics?.inserted(stored.inserted);
    if (refused.length === 0) return c.json(stored);
    metrics?.refused(refused.length);
    const shown = refused.slice(0, PROBLEMS_SHOWN).map(({ index, problems }) => `#${index}: ${problems.join(", ")}`);
    console.warn(
      `audit ingest: stored ${valid.length} events, refused ${refused.length} the edge will send again (is the origin older than the edge?): ${shown.join("; ")}`,
    );
    const answer: AuditEventsRefused = { error: "invalid_audit_events", inserted: stored.inserted, refused };
    return c.json(answer, 422);
  });
}

/** A validation problem by its path and message: the schema's words, never the value. */
const problemOf = (issue: { path: PropertyKey[]; message: string }) => `${issue.path.map(String).join(".")}: ${issue.message}`;
