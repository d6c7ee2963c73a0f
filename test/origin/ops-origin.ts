import type { OriginParts } from "../../aws/origin/app.ts";
import type { TestDatabase } from "./database.ts";
import { type OriginUnderTest, originUnderTest } from "./origin-under-test.ts";

// The origin app on a real database, as the ops routes' tests (pins, connections and dry run) call it: an ops
// assertion naming the administrator unless a test chooses other claims.

export const ADMIN_EMAIL = "admin@example.com";

export interface OpsOrigin {
  app: OriginUnderTest["app"];
  /** Calls `path` with an assertion of these claims (an ops assertion naming the administrator by default). */
  call(path: string, init?: RequestInit, claims?: Record<string, unknown>): Promise<Response>;
}

const ADMIN_CLAIMS = { sub: "admin-1", email: ADMIN_EMAIL, client_id: "ops-dashboard", purpose: "ops" };

export async function opsOrigin(database: TestDatabase, parts: Partial<OriginParts> = {}): Promise<OpsOrigin> {
  const origin = await originUnderTest({ database, parts });
  return { app: origin.app, call: (path, init = {}, claims = ADMIN_CLAIMS) => origin.call(path, init, claims) };
}

/** A JSON POST. */
export const postJson = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
