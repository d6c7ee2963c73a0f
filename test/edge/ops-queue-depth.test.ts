import { env } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { type GroupsEdge, groupsEdge } from "./groups-sign-in.ts";
import { QUEUE_GRAPHQL_BACKLOG, QUEUE_GRAPHQL_TOKEN } from "./ops-queue-depth-stand-in.ts";
import { signInToOps } from "./ops-session.ts";

// The dashboard's Audit delivery panel in workerd: the edge reads both audit queues' backlog from a stand-in of
// Cloudflare's GraphQL Analytics API (queue-graphql-setup.ts) with the configured account and token.
const ACCOUNT = "0123456789abcdef0123456789abcdef";
const QUEUES = {
  OPS_AUDIT_QUEUE_ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  OPS_DEAD_LETTER_QUEUE_ID: "dddddddddddddddddddddddddddddddd",
  OPS_ANALYTICS_ACCOUNT_ID: ACCOUNT,
};
/** An administrator's edge with the queue ids and this token, reading at a URL (so a cache entry) of its own. */
const queuesEdge = (apiToken: string) =>
  groupsEdge({
    ADMIN_GROUPS: "engineering",
    ...QUEUES,
    OPS_ANALYTICS_API_TOKEN: apiToken,
    OPS_QUEUES_GRAPHQL_URL: `${inject("queueGraphqlUrl")}/${crypto.randomUUID()}`,
    OPS_ANALYTICS_SQL_URL: `${new URL(inject("queueGraphqlUrl")).origin}/sql/${crypto.randomUUID()}`,
  });

async function dashboardText(edge: GroupsEdge): Promise<string> {
  const { session } = await signInToOps(edge);
  const page = await edge.call("/ops", { headers: { cookie: session } });
  expect(page.status).toBe(200);
  return (await page.text()).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
}

describe("the ops dashboard's audit queues", () => {
  it("shows the queue backlog and the dead letters read from Cloudflare's GraphQL API, with the time of the reading", async () => {
    const text = await dashboardText(queuesEdge(QUEUE_GRAPHQL_TOKEN));
    expect(text).toContain(
      `Audit queue backlog ${QUEUE_GRAPHQL_BACKLOG.audit.toLocaleString("en-US")} queue messages (each up to 100 events) waiting`,
    );
    expect(text).toMatch(
      new RegExp(
        `Audit dead letters ${QUEUE_GRAPHQL_BACKLOG.deadLetter} queue messages \\(each up to 100 events\\) given up on.*read \\d\\d:\\d\\d:\\d\\d UTC`,
      ),
    );
  });

  it("says the queues could not be read, and why, when the API refuses the token", async () => {
    const text = await dashboardText(queuesEdge("a-revoked-token"));
    expect(text).toContain("Audit dead letters – could not be read");
    expect(text).toContain(
      "The audit queues&#39; depth could not be read: Cloudflare&#39;s GraphQL API answered: not authorized for that account",
    );
  });

  it("counts the audit events waiting in the audit spool, across its objects, and says since when", async () => {
    const spools = (env as unknown as EdgeEnv).AUDIT_SPOOL;
    const event = { id: crypto.randomUUID(), time: new Date().toISOString(), kind: "mcp.request", outcome: "ok" } as AuditEvent;
    const edge = groupsEdge({ ADMIN_GROUPS: "engineering" });
    expect(await dashboardText(edge)).toContain("Audit spool 0 no audit event waits to be sent again");
    const before = Date.now();
    for (const index of [2, 5])
      expect(await spools.get(spools.idFromName(`audit-spool-${index}`)).keep([event, event])).toBe(true);
    // The spool stamps its own time while keeping: the minute shown is the one at either end of the keeping.
    const minute = (time: number) => new Date(time).toISOString().slice(0, 16).replace("T", " ");
    const since = `(${minute(before)}|${minute(Date.now())})`;
    const text = await dashboardText(edge);
    expect(text).toMatch(new RegExp(`Audit spool 4 audit events waiting, the oldest since ${since} UTC`));
    expect(text).toMatch(
      new RegExp(`4 audit events wait in the audit spool, the oldest since ${since} UTC: the audit queue refused them`),
    );
  });

  it("says the queues are not available on a loopback edge without their ids (npm start)", async () => {
    const text = await dashboardText(groupsEdge({ ADMIN_GROUPS: "engineering" }));
    expect(text).toContain("The audit queues&#39; depth is not available locally: npm start runs the queues inside wrangler dev");
  });
});
