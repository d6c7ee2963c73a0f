import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { mcpStatus, refreshTokens, registerClient, signedInTokens, type Tokens } from "./sign-in.ts";

const refresh = refreshTokens;

describe("refresh-token reuse", () => {
  it("revokes the whole grant when a rotated refresh token comes back, and audits it", async () => {
    const audit = capturedAudit();
    const noGrace = { ...audit.env, REFRESH_REUSE_GRACE_SECONDS: "0" };
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);

    const rotated = await refresh(clientId, first.refresh_token, noGrace);
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as Tokens;

    // The old token again: whoever holds it, the grant is no longer trusted.
    const reused = await refresh(clientId, first.refresh_token, noGrace);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: "invalid_grant" });

    // Everything of that grant is dead: the new refresh token and the access token issued with it.
    expect((await refresh(clientId, second.refresh_token, noGrace)).status).toBe(400);
    expect(await mcpStatus(second.access_token)).toBe(401);

    const reuse = audit.events.filter((event) => event.kind === "auth.refresh_reuse");
    expect(reuse).toHaveLength(1);
    expect(reuse[0]).toMatchObject({ outcome: "denied", clientId, userEmail: "dev@example.com", count: 1 });
    expect(reuse[0]?.userSub).toBeTruthy();
  });

  it("audits a reuse whose grant is already gone without counting a revocation", async () => {
    const audit = capturedAudit();
    const noGrace = { ...audit.env, REFRESH_REUSE_GRACE_SECONDS: "0" };
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    expect((await refresh(clientId, first.refresh_token, noGrace)).status).toBe(200);
    expect((await refresh(clientId, first.refresh_token, noGrace)).status).toBe(400);
    // Again: the first reuse revoked the grant, this one has nothing left to revoke.
    expect((await refresh(clientId, first.refresh_token, noGrace)).status).toBe(400);
    const reuse = audit.events.filter((event) => event.kind === "auth.refresh_reuse");
    expect(reuse).toHaveLength(2);
    expect(reuse[0]).toMatchObject({ outcome: "denied", count: 1, userEmail: "dev@example.com" });
    expect(reuse[1]).toMatchObject({ outcome: "denied", clientId });
    expect(reuse[1]?.count).toBeUndefined();
    expect(reuse[1]?.userEmail).toBeUndefined();
  });

  it("honours a retry within the grace window until the new token is used, then treats the old one as reuse", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);

    expect((await refresh(clientId, first.refresh_token, audit.env)).status).toBe(200);
    // The client lost that answer and retries with the same token, within the grace: it gets tokens again.
    const retried = await refresh(clientId, first.refresh_token, audit.env);
    expect(retried.status).toBe(200);
    const current = (await retried.json()) as Tokens;

    // It uses what it got; from then on the old token is a copy someone else holds.
    const next = await refresh(clientId, current.refresh_token, audit.env);
    expect(next.status).toBe(200);
    const latest = (await next.json()) as Tokens;
    expect((await refresh(clientId, first.refresh_token, audit.env)).status).toBe(400);
    expect((await refresh(clientId, latest.refresh_token, audit.env)).status).toBe(400);
    expect(audit.events.filter((event) => event.kind === "auth.refresh_reuse")).toHaveLength(1);
  });

  it("revokes the grant when the successor of a token retried within the grace comes back (a thief retried it)", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    const clients = (await (await refresh(clientId, first.refresh_token, audit.env)).json()) as Tokens;
    // A copy of the old token, replayed within the grace, is honoured: the edge cannot yet tell it from a lost answer.
    const thiefs = (await (await refresh(clientId, first.refresh_token, audit.env)).json()) as Tokens;
    // The client's own token then comes back: someone else retried, so the grant, the thief's tokens with it, is revoked.
    const clientRefresh = await refresh(clientId, clients.refresh_token, audit.env);
    expect(clientRefresh.status).toBe(400);
    expect(await clientRefresh.json()).toMatchObject({ error: "invalid_grant", error_description: /already used/ });
    expect((await refresh(clientId, thiefs.refresh_token, audit.env)).status).toBe(400);
    expect(await mcpStatus(thiefs.access_token)).toBe(401);
    expect(audit.events.filter((event) => event.kind === "auth.refresh_reuse")).toHaveLength(1);
  });

  it("honours one retry within the grace, not two", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    expect((await refresh(clientId, first.refresh_token, audit.env)).status).toBe(200);
    const retried = (await (await refresh(clientId, first.refresh_token, audit.env)).json()) as Tokens;
    expect((await refresh(clientId, first.refresh_token, audit.env)).status).toBe(400);
    expect(await mcpStatus(retried.access_token)).toBe(401);
    expect(audit.events.filter((event) => event.kind === "auth.refresh_reuse")).toHaveLength(1);
  });

  it("does not revoke a grant for a refresh token it never issued (a guess at someone's grant)", async () => {
    const audit = capturedAudit();
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    const [userId, grantId] = tokens.refresh_token.split(":");
    const forged = await refresh(clientId, `${userId}:${grantId}:not-the-secret`, audit.env);
    expect(forged.status).toBe(400);
    expect((await refresh(clientId, tokens.refresh_token, audit.env)).status).toBe(200);
    expect(audit.events.filter((event) => event.kind === "auth.refresh_reuse")).toHaveLength(0);
  });

  // s22 growth hunt G6: the grant was looked up on the first page (1,000) of the user's grants only; one further on
  // was not revoked, while the log and the audit said it was.
  it("revokes the grant of a user with more grants than one KV list page holds", async () => {
    const audit = capturedAudit();
    const noGrace = { ...audit.env, REFRESH_REUSE_GRACE_SECONDS: "0" };
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    const [userId] = first.refresh_token.split(":");
    await seedGrantsBefore(String(userId), clientId, 1000);
    const second = (await (await refresh(clientId, first.refresh_token, noGrace)).json()) as Tokens;

    expect((await refresh(clientId, first.refresh_token, noGrace)).status).toBe(400);
    expect((await refresh(clientId, second.refresh_token, noGrace)).status).toBe(400);
    expect(await mcpStatus(second.access_token)).toBe(401);
    const reuse = audit.events.filter((event) => event.kind === "auth.refresh_reuse");
    expect(reuse).toEqual([expect.objectContaining({ clientId, userEmail: "dev@example.com", count: 1 })]);
  }, 120_000);
});

/** Live grants of the user, filed before any real one in KV's order (ids start with "0"), as many sign-ins leave. */
async function seedGrantsBefore(userId: string, clientId: string, count: number): Promise<void> {
  const kv = (env as unknown as EdgeEnv).OAUTH_KV;
  const createdAt = Math.floor(Date.now() / 1000);
  const grant = (id: string) => ({
    id,
    clientId,
    userId,
    scope: ["mcp"],
    metadata: {},
    createdAt,
    expiresAt: createdAt + 86_400,
  });
  for (let start = 0; start < count; start += 100) {
    const ids = Array.from({ length: Math.min(100, count - start) }, (_, i) => `0${String(start + i).padStart(6, "0")}`);
    await Promise.all(ids.map((id) => kv.put(`grant:${userId}:${id}`, JSON.stringify(grant(id)))));
  }
}
