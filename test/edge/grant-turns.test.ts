import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { redeemOwnCode } from "../../worker/auth/own-browser-client.ts";
import { signOutEverywhere } from "../../worker/auth/user-grants.ts";
import { edgeConfig } from "../../worker/config.ts";
import type { EdgeEnv } from "../../worker/env.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { pkcePair } from "./pkce.ts";
import {
  authorizationCode,
  CLIENT_REDIRECT,
  codeExchange,
  mcpStatus,
  refreshTokens,
  registerClient,
  signedInTokens,
  type Tokens,
  tokenRequest,
} from "./sign-in.ts";

// Requests on one grant at the same moment (durable-objects/grant-turns.ts): each must be handled as if it came
// after the others, not beside them. The token cache is off, so each use of a token reads the grant anew.
const ENV = { RATE_LIMIT_TOKEN_PER_MINUTE: "100000", TOKEN_CACHE_SECONDS: "0" };
const AT_ONCE = 10;

const refresh = (clientId: string, refreshToken: string, env: Record<string, unknown> = ENV) =>
  refreshTokens(clientId, refreshToken, env);

const tokensOf = async (answers: Response[]) =>
  (await Promise.all(answers.filter((answer) => answer.status === 200).map((answer) => answer.json()))) as Tokens[];

describe("token requests on one grant at the same moment", () => {
  it("exchanges a code once, and its replay alongside revokes what the first exchange gave", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const code = await authorizationCode(clientId, pkce.challenge);
    const answers = await Promise.all(
      Array.from({ length: AT_ONCE }, () => callEdge("/oauth/token", codeExchange(clientId, code, pkce.verifier), ENV)),
    );
    const issued = await tokensOf(answers);
    expect(issued).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 400)).toHaveLength(AT_ONCE - 1);
    // RFC 6749 §4.1.2: a code used twice revokes the tokens it gave.
    expect(await mcpStatus(issued[0]?.access_token ?? "", "everything", ENV)).toBe(401);
  });

  it("honours one refresh token once more at most (a retry), and revokes the grant on its third use", async () => {
    const audit = capturedAudit();
    const env = { ...audit.env, ...ENV };
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => refresh(clientId, first.refresh_token, env)));
    const issued = await tokensOf(answers);
    expect(issued).toHaveLength(2);
    // Nothing of the grant works any more: no copy of the token was left with a grant of its own.
    for (const tokens of issued) {
      expect(await mcpStatus(tokens.access_token, "everything", env)).toBe(401);
      expect((await refresh(clientId, tokens.refresh_token, env)).status).toBe(400);
    }
    expect(audit.events.filter((event) => event.kind === "auth.refresh_reuse").length).toBeGreaterThan(0);
  });

  it("leaves no one a grant when a client and a thief refresh with the same token at once", async () => {
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    const [one, other] = await tokensOf(
      await Promise.all([refresh(clientId, first.refresh_token), refresh(clientId, first.refresh_token)]),
    );
    expect(one && other).toBeTruthy();
    // The first answer's token is the one the retry replaced: whoever holds it revokes the grant by using it, and
    // then the other side's chain ends too, in either order.
    const [a, b] = [await refresh(clientId, one?.refresh_token ?? ""), await refresh(clientId, other?.refresh_token ?? "")];
    const statuses = [a.status, b.status];
    expect(statuses).toContain(400);
    const survivor = [a, b].find((answer) => answer.status === 200);
    if (survivor) {
      // The side whose token was still current used it first: the other's use then revoked the grant.
      const next = (await survivor.json()) as Tokens;
      expect((await refresh(clientId, next.refresh_token)).status).toBe(400);
    }
  });
});

describe("a grant's turns", () => {
  it("gives the next turn only once the one before has ended, in the order asked", async () => {
    const namespace = (env as unknown as EdgeEnv).GRANT_TURNS;
    const turns = namespace.get(namespace.idFromName(`user:grant-${crypto.randomUUID()}`));
    const order: string[] = [];
    const first = await turns.begin();
    const second = turns.begin().then((turn) => {
      order.push("second");
      return turn;
    });
    const third = turns.begin().then((turn) => {
      order.push("third");
      return turn;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual([]);
    order.push("first ends");
    await turns.end(first);
    await turns.end(await second);
    await turns.end(await third);
    expect(order).toEqual(["first ends", "second", "third"]);
  });
});

describe("a grant whose turn is held", () => {
  const turnsOf = (token: string) => {
    const namespace = (env as unknown as EdgeEnv).GRANT_TURNS;
    const [userId, grantId] = token.split(":");
    return namespace.get(namespace.idFromName(`${userId}:${grantId}`));
  };

  it("refuses a request past the sixteen waiting at once with 503 temporarily_unavailable, and serves the rest after", async () => {
    const clientId = await registerClient();
    const first = await signedInTokens(clientId);
    const turns = turnsOf(first.refresh_token);
    const held = await turns.begin();
    const waiting = Array.from({ length: 16 }, () => refresh(clientId, first.refresh_token));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await refresh(clientId, first.refresh_token);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(await refused.json()).toMatchObject({ error: "temporarily_unavailable" });
    await turns.end(held);
    expect((await Promise.all(waiting)).every((answer) => answer.status === 200 || answer.status === 400)).toBe(true);
  });

  /** Whether `work` is still waiting after a moment, then what it gives once the held turn ends. */
  const waitsForTurn = async <T>(turns: ReturnType<typeof turnsOf>, held: string, work: () => Promise<T>) => {
    let done = false;
    const running = work().finally(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const waited = !done;
    await turns.end(held);
    return { waited, result: await running };
  };

  it("revokes a token (RFC 7009) only once a refresh under way on its grant has written it back", async () => {
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    const turns = turnsOf(tokens.refresh_token);
    const { waited, result } = await waitsForTurn(turns, await turns.begin(), () =>
      tokenRequest({ token: tokens.refresh_token, client_id: clientId }, ENV),
    );
    expect(waited).toBe(true);
    expect(result.status).toBe(200);
    expect(await mcpStatus(tokens.access_token, "everything", ENV)).toBe(401);
  });

  it("takes the turn of the code's grant for the dashboard's own code exchange too", async () => {
    const clientId = await registerClient();
    const pkce = await pkcePair();
    const code = await authorizationCode(clientId, pkce.challenge);
    const turns = turnsOf(code);
    const config = edgeConfig(testEnv(ENV));
    const sign = { code, redirectUri: CLIENT_REDIRECT, clientId, verifier: pkce.verifier };
    const { waited } = await waitsForTurn(turns, await turns.begin(), () =>
      redeemOwnCode(config, testEnv(ENV), createExecutionContext(), new Request(`${PUBLIC_URL}/ops/callback`), sign),
    );
    expect(waited).toBe(true);
  });

  it("signs a user out only once a refresh under way on their grant has written it back", async () => {
    const clientId = await registerClient();
    const tokens = await signedInTokens(clientId);
    const turns = turnsOf(tokens.refresh_token);
    const held = await turns.begin(); // a refresh under way
    const ctx = createExecutionContext();
    const config = edgeConfig(testEnv(ENV));
    let done = false;
    const signingOut = signOutEverywhere(testEnv(ENV), ctx, config, "dev@example.com").then((result) => {
      done = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    expect(await mcpStatus(tokens.access_token, "everything", ENV)).toBe(503); // still signed in
    await turns.end(held);
    expect((await signingOut).revoked).toBeGreaterThan(0);
    await waitOnExecutionContext(ctx);
    expect(await mcpStatus(tokens.access_token, "everything", ENV)).toBe(401);
  });
});
