import type { EdgeConfig } from "../../contract/config/schema.ts";

/** The dashboard and its parts, all under one prefix. */
export const OPS_PATH = "/ops";
export const OPS_CALLBACK_PATH = "/ops/callback";
export const OPS_TAIL_PATH = "/ops/tail.json";
export const OPS_SCRIPT_PATH = "/ops/tail.js";
export const OPS_STYLE_PATH = "/ops/style.css";
/**
 * Starts a new sign-in whatever the session cookie holds (another account, or a scope granted since). A GET any site
 * can send a browser to, so it leaves the session as it is: the new sign-in replaces it only once it is done.
 */
export const OPS_SIGN_IN_PATH = "/ops/sign-in";
/** The dashboard's sign-in with the identity provider's account chooser: "sign in with another account". */
export const OPS_SIGN_IN_OTHER_ACCOUNT_PATH = `${OPS_SIGN_IN_PATH}?account=choose`;
/** Ends the session: a POST with the session's CSRF token, the header's *sign out*. */
export const OPS_SIGN_OUT_PATH = "/ops/sign-out";
/** Where a sign-out sends the browser (303): a page a reload or Back shows again without posting anything. */
export const OPS_SIGNED_OUT_PATH = "/ops/signed-out";
/** Pinned definitions that wait for a decision; their Approve and Reject forms post to the decide path. */
export const OPS_PINS_PAGE_PATH = "/ops/pins";
export const OPS_PINS_DECIDE_PAGE_PATH = "/ops/pins/decide";
/** The policy dry run: the form (GET) and its report (POST). */
export const OPS_DRY_RUN_PAGE_PATH = "/ops/policy";
/** Sign a user out everywhere at the edge: the form (GET) and its POST, which revokes every edge grant of an e-mail. */
export const OPS_SIGN_INS_PAGE_PATH = "/ops/sign-ins";
export const OPS_SIGN_INS_SIGN_OUT_PAGE_PATH = "/ops/sign-ins/sign-out";

/**
 * The dashboard as a protected resource of its own (RFC 8707): its tokens are good nowhere else, and an MCP client's
 * token, even one with `mcp:admin`, does not open it.
 */
export const opsResource = (config: EdgeConfig): string => `${config.publicUrl}${OPS_PATH}`;

/** Where the edge's authorization server sends the dashboard's sign-in back. */
export const opsRedirectUri = (config: EdgeConfig): string => `${config.publicUrl}${OPS_CALLBACK_PATH}`;
