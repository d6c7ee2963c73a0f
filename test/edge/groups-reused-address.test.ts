import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../contract/audit-event.ts";
import { EDGE_ASSERTION_HEADER } from "../../contract/edge-assertion.ts";
import { edgeOAuth } from "../../worker/auth/authorization-server.ts";
import { grantCode } from "../../worker/auth/grant-code.ts";
import { grantOwnerId } from "../../worker/auth/grant-owner.ts";
import { forgetValidatedTokens } from "../../worker/auth/token-cache.ts";
import { edgeConfig } from "../../worker/config.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { type GroupsEdge, groupsEdge, mcpRequest } from "./groups-sign-in.ts";
import { pkcePair } from "./pkce.ts";
import { authorizeUrl, exchangeCode, registerClient, type Tokens } from "./sign-in.ts";

// A Workspace address given to someone else (a deleted leaver's, to a new hire), with Google as the identity provider
// and google.checkAccounts on: the edge asks the origin for the account of the user's `sub` (Google's unique id), not of
// the address, so the leaver's grants end while the new hire's, under the same address, go on. The grants are made as
// the edge's callback makes them (grantCode): the local IdP has one user per address, and Google's issuer here is only
// what decides how the edge asks (no sign-in reaches it). The origin's answers are this file's: the real origin's side
// is tested against the fake Google in test/origin/google-accounts-by-id.test.ts.

const ADDRESS = "dev@example.com";
const LEAVER = { sub: "100000000000000000001", email: ADDRESS };
const NEW_HIRE = { sub: "100000000000000000002", email: ADDRESS };
const GOOGLE = { IDP_ISSUER: "https://accounts.google.com" };
const DIRECTORY = { GROUPS_SOURCE: "google-directory", TOKEN_CACHE_SECONDS: "0" };

/** What an origin says of each sub's account, read by sub (a newer origin) or of the address (an older one). */
interface Directory {
  bySub: Record<string, string>;
  byAddress: string;
  /** An older origin: ignores `accountBy` and answers the address's state without `accountBy`. */
  older?: boolean;
  /** A sub's former address: asked by sub with it, the account reads `renamed`. */
  renamedFrom?: Record<string, string>;
  asked: URL[];
}
const directories = new Map<string, Directory>();
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const origin = [...directories.keys()].find((space) => url.href.startsWith(`${space}/identity/groups`));
    const directory = origin === undefined ? undefined : directories.get(origin);
    if (!directory) return realFetch(request);
    directory.asked.push(url);
    const assertion = request.headers.get(EDGE_ASSERTION_HEADER) ?? "";
    const claims = JSON.parse(atob((assertion.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    const [sub, email] = [String(claims.sub), String(claims.email)];
    const bySub = !directory.older && url.searchParams.get("accountBy") === "sub";
    const renamed = bySub && directory.renamedFrom?.[sub] === email;
    const account = renamed ? "renamed" : bySub ? (directory.bySub[sub] ?? "deleted") : directory.byAddress;
    const groups = account === "active" ? ["eng@example.com"] : [];
    const checkedAt = Math.floor(Date.now() / 1000);
    return Response.json({ groups, source: "google-directory", checkedAt, account, ...(bySub && { accountBy: "sub" }) });
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});
beforeEach(() => forgetValidatedTokens());

/** An edge of this test's origin, with Google as its identity provider unless told otherwise, and an audit capture. */
function edgeOf(directory: Omit<Directory, "asked">, variables: Record<string, string> = GOOGLE) {
  const audit = capturedAudit();
  const edge = groupsEdge({ ...DIRECTORY, ...variables });
  const asked: URL[] = [];
  directories.set(edge.origin, { ...directory, asked });
  const bindings = { ...edge.env, ...audit.env };
  const call = (path: string, init?: RequestInit) => callEdge(path, init, bindings);
  return { ...edge, call, audit, asked } satisfies GroupsEdge & Record<string, unknown>;
}

const oauthApi = () => edgeOAuth(edgeConfig(testEnv())).authorizationServer.getOAuthApi(testEnv());
const grantsOf = async (sub: string) => (await oauthApi().listUserGrants(await grantOwnerId(sub))).items;
/** The grants of `sub` made under the reused address. */
const grantsUnderAddress = async (sub: string) =>
  (await grantsOf(sub)).filter((grant) => (grant.metadata as { email?: string }).email === ADDRESS);

/** Tokens of `user`, granted as the edge's callback grants them (no groups read yet: the first request reads them). */
async function tokensOf(user: { sub: string; email: string }): Promise<Tokens & { clientId: string }> {
  const oauth = oauthApi();
  const clientId = await registerClient("Reused address client");
  const pkce = await pkcePair();
  const request = await oauth.parseAuthRequest(new Request(new URL(authorizeUrl(clientId, pkce.challenge), PUBLIC_URL)));
  const back = new URL(await grantCode(oauth, request, { ...user, groups: [] }, [], testEnv().OAUTH_KV));
  const answer = await exchangeCode(clientId, back.searchParams.get("code") ?? "", pkce.verifier);
  expect(answer.status).toBe(200);
  return { ...((await answer.json()) as Tokens), clientId };
}

const refresh = async (edge: GroupsEdge, tokens: Tokens & { clientId: string }) => {
  const answer = await edge.call("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: tokens.clientId }),
  });
  return { status: answer.status, body: (await answer.json()) as { error?: string; error_description?: string } };
};

const signedOutEvents = (events: AuditEvent[]) => events.filter((event) => event.kind === "auth.user_signed_out");

/** The leaver and the new hire, each signed in with two clients under the same address. */
async function bothSignedIn() {
  const leaver = [await tokensOf(LEAVER), await tokensOf(LEAVER)];
  const newHire = [await tokensOf(NEW_HIRE), await tokensOf(NEW_HIRE)];
  return { leaver, newHire };
}

describe("an address the Workspace gave to someone else, with Google as the identity provider", () => {
  it("the leaver's MCP request is refused 401 and only the leaver's grants are revoked; the new hire goes on", async () => {
    const edge = edgeOf({ bySub: { [NEW_HIRE.sub]: "active" }, byAddress: "active" });
    const { leaver, newHire } = await bothSignedIn();
    const [first, second] = leaver as [Tokens & { clientId: string }, Tokens & { clientId: string }];
    const before = (await grantsOf(LEAVER.sub)).length;
    expect(before).toBeGreaterThanOrEqual(2);

    const refused = await mcpRequest(edge, first.access_token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/error="invalid_token".*deleted/);
    expect(edge.asked.at(-1)?.searchParams.get("accountBy")).toBe("sub");

    expect(await grantsUnderAddress(LEAVER.sub)).toEqual([]);
    expect((await mcpRequest(edge, second.access_token)).status).toBe(401);
    expect((await refresh(edge, second)).body.error).toBe("invalid_grant");
    for (const tokens of newHire) {
      expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
      expect((await refresh(edge, tokens)).status).toBe(200);
    }
    expect((await grantsOf(NEW_HIRE.sub)).length).toBeGreaterThanOrEqual(2);
    expect(signedOutEvents(edge.audit.events)).toEqual([
      expect.objectContaining({
        outcome: "ok",
        userSub: LEAVER.sub,
        userEmail: ADDRESS,
        clientId: "directory:google",
        count: before,
        httpStatus: 401,
        arguments: { account: "deleted", accountBy: "sub", refused: "mcp-request", refusedClient: first.clientId },
      }),
    ]);
  });

  it("a leaver renamed away from the address: their refresh is refused and only their grants are revoked", async () => {
    const edge = edgeOf({ bySub: { [LEAVER.sub]: "renamed", [NEW_HIRE.sub]: "active" }, byAddress: "active" });
    const { leaver, newHire } = await bothSignedIn();
    // The leaver signed in again under their new address: that grant is not the old address's, and stays.
    await tokensOf({ sub: LEAVER.sub, email: "former-dev@example.com" });
    const [first] = leaver as [Tokens & { clientId: string }];
    const refused = await refresh(edge, first);
    expect(refused.body.error).toBe("invalid_grant");
    expect(refused.body.error_description).toMatch(/no longer at the address you signed in with/);
    const left = await grantsOf(LEAVER.sub);
    expect(left.map((grant) => (grant.metadata as { email?: string }).email)).toEqual(["former-dev@example.com"]);
    for (const tokens of newHire) expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
    expect(signedOutEvents(edge.audit.events)).toEqual([
      expect.objectContaining({
        userSub: LEAVER.sub,
        arguments: expect.objectContaining({ account: "renamed", refused: "refresh" }),
      }),
    ]);
  });

  it("a token of a renamed user's former address is refused although the new address's groups were just read", async () => {
    const renamedTo = "dev.smith@example.com";
    const edge = edgeOf({ bySub: { [LEAVER.sub]: "active" }, byAddress: "active", renamedFrom: { [LEAVER.sub]: ADDRESS } });
    const current = await tokensOf({ sub: LEAVER.sub, email: renamedTo });
    const former = await tokensOf(LEAVER);
    expect((await mcpRequest(edge, current.access_token)).status).toBe(200);
    // Within the TTL of that reading: the former address's token must not ride on it.
    const refused = await mcpRequest(edge, former.access_token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    expect((await mcpRequest(edge, current.access_token)).status).toBe(200);
  });

  it("an older origin, which reads by address: its state is the address's, and the address is signed out as before", async () => {
    const edge = edgeOf({ bySub: {}, byAddress: "suspended", older: true });
    const { leaver, newHire } = await bothSignedIn();
    expect((await mcpRequest(edge, (leaver[0] as Tokens).access_token)).status).toBe(401);
    expect(await grantsUnderAddress(LEAVER.sub)).toEqual([]);
    expect(await grantsUnderAddress(NEW_HIRE.sub)).toEqual([]);
    for (const tokens of newHire) expect((await mcpRequest(edge, tokens.access_token)).status).toBe(401);
    const [event] = signedOutEvents(edge.audit.events);
    expect(event?.arguments).not.toHaveProperty("accountBy");
    expect(event?.arguments).toMatchObject({ account: "suspended", subs: expect.arrayContaining([LEAVER.sub, NEW_HIRE.sub]) });
  });

  it("another identity provider's sub is no Workspace id: the edge asks by address", async () => {
    const edge = edgeOf({ bySub: {}, byAddress: "active" }, {});
    // A sub of its own: this isolate remembers the groups of the others it read, and would not ask again.
    const tokens = await tokensOf({ sub: "okta-user-1", email: ADDRESS });
    expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
    expect(edge.asked.length).toBeGreaterThan(0);
    for (const url of edge.asked) expect(url.searchParams.has("accountBy")).toBe(false);
  });
});
