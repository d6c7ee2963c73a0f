import type { EdgeConfig } from "../../../contract/config/schema.ts";
import { fetchOrigin } from "../../upstream/fetch-origin.ts";
import { type OpsReader, OpsSourceError } from "./source.ts";

/**
 * A request to the origin for the dashboard, under an assertion naming the reader (the origin logs who read, and
 * records who decided): `purpose: "ops"` for an administrator's routes, or the narrower purpose a route gives a user
 * who is not one. Unreachable: an OpsSourceError saying what to check.
 */
export async function callOriginForOps(
  config: EdgeConfig,
  reader: OpsReader,
  path: string,
  init: { method: "GET" | "POST"; body?: unknown },
  purpose: "ops" | "own-connections" = "ops",
): Promise<Response> {
  const claims = {
    sub: reader.user.sub,
    email: reader.user.email,
    groups: reader.user.groups,
    client_id: reader.clientId,
    purpose,
  };
  const headers = new Headers({ accept: "application/json" });
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  try {
    return await fetchOrigin(config, path, claims, { method: init.method, headers, body });
  } catch (error) {
    throw new OpsSourceError(`the origin could not be reached (${(error as Error).message}); check ORIGIN_URL and /readyz`);
  }
}

/** The origin's answer when it is one of `expected`; otherwise an OpsSourceError naming the status. */
export async function expectStatus(response: Response, path: string, expected: readonly number[] = [200]): Promise<Response> {
  if (expected.includes(response.status)) return response;
  await response.body?.cancel();
  throw new OpsSourceError(`the origin answered ${response.status} to ${path.split("?")[0]}; its log says why`);
}
