import { ADMIN_SCOPE } from "../../auth/groups/admin-scope.ts";
import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_SIGN_IN_OTHER_ACCOUNT_PATH, OPS_SIGN_IN_PATH } from "../paths.ts";
import { OPS_CONNECTIONS_PAGE_PATH } from "./connections-paths.ts";
import { opsPage } from "./layout.ts";

/**
 * 403 for a signed-in user who is not an administrator: says what is missing (the `mcp:admin` scope), who gets it
 * (members of `adminGroups`), which groups the user was signed in with, and what to do.
 */
export function refusedPage(user: UserProps, adminGroups: readonly string[]): Response {
  const who = escapeHtml(user.email ?? user.sub);
  const groupList = (groups: readonly string[]) =>
    groups.length ? groups.map((group) => `<code>${escapeHtml(group)}</code>`).join(", ") : "none";
  const needed = adminGroups.length
    ? `members of ${groupList(adminGroups)} (the edge's <code>adminGroups</code>)`
    : "nobody yet: the edge's <code>adminGroups</code> setting is empty";
  const body = `<main><h1>This dashboard is for administrators</h1>
<p>You are signed in as <strong>${who}</strong>, without the <code>${ADMIN_SCOPE}</code> scope it needs.</p>
<dl class="facts"><dt>Granted to</dt><dd>${needed}</dd><dt>Your groups</dt><dd>${groupList(user.groups)}</dd></dl>
<p>Ask whoever runs this proxy to add you to one of those groups, then <a href="${OPS_SIGN_IN_PATH}">sign in again</a> (the scope is granted at sign-in). Or <a href="${OPS_SIGN_IN_OTHER_ACCOUNT_PATH}">sign in with another account</a>.</p>
<p>Your own <a href="${OPS_CONNECTIONS_PAGE_PATH}">upstream connections</a> (the servers you connected your accounts to) are open to you: see and revoke them there.</p>
</main>`;
  return opsPage("Ops dashboard: administrators only", body, { status: 403 });
}
