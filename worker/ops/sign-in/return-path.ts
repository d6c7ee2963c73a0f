import { OPS_CONNECTIONS_PAGE_PATH, OPS_CONNECTIONS_REVOKE_PAGE_PATH } from "../pages/connections-paths.ts";
import { OPS_PAGE_PATHS } from "../pages/header.ts";
import {
  OPS_PATH,
  OPS_PINS_DECIDE_PAGE_PATH,
  OPS_PINS_PAGE_PATH,
  OPS_SIGN_INS_PAGE_PATH,
  OPS_SIGN_INS_SIGN_OUT_PAGE_PATH,
  OPS_SIGN_OUT_PATH,
  OPS_SIGNED_OUT_PATH,
} from "../paths.ts";

/**
 * Addresses that name no page of their own (a form's target, a trailing slash): the page each belongs to, where a GET
 * of it is sent (303) rather than to an empty 404 (s24 hunt pages F9), and where a sign-in started from it returns.
 */
export const PAGES_OF_ADDRESSES: ReadonlyMap<string, string> = new Map([
  [`${OPS_PATH}/`, OPS_PATH],
  [OPS_SIGN_OUT_PATH, OPS_SIGNED_OUT_PATH],
  [OPS_PINS_DECIDE_PAGE_PATH, OPS_PINS_PAGE_PATH],
  [OPS_SIGN_INS_SIGN_OUT_PAGE_PATH, OPS_SIGN_INS_PAGE_PATH],
  [OPS_CONNECTIONS_REVOKE_PAGE_PATH, OPS_CONNECTIONS_PAGE_PATH],
]);

/**
 * The dashboard page a sign-in started at `path` returns to: one of the dashboard's own pages, compared as written (no
 * decoding, no resolving), or the page an address belongs to; anything else (another site, `//host`, `/ops/../x`, an
 * encoded variant) returns to /ops. Never an open redirect: the answer is always one of these few paths.
 */
export function returnPathOf(path: unknown): string {
  if (typeof path !== "string") return OPS_PATH;
  if (OPS_PAGE_PATHS.includes(path)) return path;
  const page = PAGES_OF_ADDRESSES.get(path);
  return page && OPS_PAGE_PATHS.includes(page) ? page : OPS_PATH;
}
