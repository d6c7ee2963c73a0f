import { describe, expect, it } from "vitest";
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
    expect(reuse[0]).toMatchObject({ outcome: "denied", clientId, userEmail: "dev@example.com" });
    expect(reuse[0]?.userSub).toBeTruthy();
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
});
