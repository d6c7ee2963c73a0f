import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { migrate } from "../../aws/origin/db/migrate.ts";
import {
  EDGE_SIGN_IN_MS,
  PENDING_TTL_MS,
  PendingAuthorizations,
  UPSTREAM_CONSENT_MS,
} from "../../aws/origin/upstream-auth/pending-authorizations.ts";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { CONSENT_SIGN_IN_SECONDS } from "../../worker/upstream-auth/consent-cookie.ts";
import { type TestDatabase, withTestDatabase } from "./database.ts";

// An upstream consent's pieces expire on one clock: the origin keeps the authorization it began for the user's time
// at the upstream and then the whole of the edge's sign-in window, which the edge's cookie promises from the return.

let db: TestDatabase;
let pending: PendingAuthorizations;
const owner = { sub: "alice", server: "files" };
const authorization = {
  codeVerifier: "v".repeat(43),
  client: { client_id: "client" },
  issuer: "https://as.test",
  resource: "https://files.test/mcp",
  redirectUri: "https://edge.test/upstream-oauth/callback/files",
};

beforeAll(async () => {
  db = await withTestDatabase();
  await migrate(db.pool);
  pending = new PendingAuthorizations(db.pool, localKeyWrapper(randomBytes(32)));
});
afterAll(async () => db?.close());
afterEach(() => vi.restoreAllMocks());

/** Begins an authorization now, and tries to complete it `afterMs` later. */
async function takenAfter(afterMs: number) {
  const state = randomBytes(32).toString("base64url");
  const begun = Date.now();
  await pending.put(state, owner, authorization);
  vi.spyOn(Date, "now").mockReturnValue(begun + afterMs);
  return pending.take(state);
}

describe("an upstream authorization begun for a user", () => {
  it("waits for the edge's whole sign-in window after the user's time at the upstream", () => {
    expect(EDGE_SIGN_IN_MS).toBe(CONSENT_SIGN_IN_SECONDS * 1000);
    expect(PENDING_TTL_MS).toBe(UPSTREAM_CONSENT_MS + EDGE_SIGN_IN_MS);
  });

  it("is completed by a browser back from the upstream at minute 9 that signs in at the edge within its window", async () => {
    const returnedAt = 9 * 60_000;
    expect(await takenAfter(returnedAt + EDGE_SIGN_IN_MS - 1_000)).toMatchObject({ owner, pending: authorization });
  });

  it("is refused once that window is over too", async () => {
    expect(await takenAfter(PENDING_TTL_MS + 1_000)).toBeUndefined();
  });
});
