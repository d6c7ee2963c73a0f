import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_DRY_RUN_PAGE_PATH, OPS_PATH, OPS_PINS_PAGE_PATH, OPS_SIGN_INS_PAGE_PATH, OPS_SIGN_OUT_PATH } from "../paths.ts";
import { CSRF_FIELD } from "../sign-in/csrf.ts";
import { OPS_CONNECTIONS_PAGE_PATH } from "./connections-paths.ts";

/** The dashboard's pages, in the order the navigation shows them. */
const PAGES = [
  { path: OPS_PATH, label: "Traffic" },
  { path: OPS_PINS_PAGE_PATH, label: "Pinned definitions" },
  { path: OPS_DRY_RUN_PAGE_PATH, label: "Policy dry run" },
  { path: OPS_CONNECTIONS_PAGE_PATH, label: "Upstream connections" },
  { path: OPS_SIGN_INS_PAGE_PATH, label: "Sign-ins" },
] as const;

export type OpsPagePath = (typeof PAGES)[number]["path"];

/** The dashboard's pages' paths (those a sign-in may return to). */
export const OPS_PAGE_PATHS: readonly string[] = PAGES.map(({ path }) => path);

/**
 * Every page's header: who is signed in, their sign-out (a form: it revokes the session, so it carries the session's
 * CSRF token), and the links to the dashboard's pages (the current one marked). A user who is not an administrator
 * (`navigation: false`) reaches only their own connections, so gets no links.
 */
export function opsHeader(company: string, user: UserProps, current: OpsPagePath, csrf: string, navigation = true): string {
  const links = PAGES.map(({ path, label }) =>
    path === current ? `<a href="${path}" aria-current="page">${label}</a>` : `<a href="${path}">${label}</a>`,
  ).join("");
  const nav = navigation ? `\n<nav aria-label="Dashboard pages" class="pages">${links}</nav>` : "";
  return `<header><span class="brand">${escapeHtml(company)}: operations</span>
<span>Signed in as ${escapeHtml(user.email ?? user.sub)} · <form method="post" action="${OPS_SIGN_OUT_PATH}" class="sign-out">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrf)}"><button type="submit" class="link">sign out</button></form></span></header>${nav}`;
}

/** A problem the page shows instead of its data. */
export const problem = (what: string, detail: string): string =>
  `<p class="problem" role="alert">${escapeHtml(what)}: ${escapeHtml(detail)}.</p>`;
