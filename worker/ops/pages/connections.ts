import type { OpsConnections } from "../../../contract/ops-connections.ts";
import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { CSRF_FIELD } from "../sign-in/csrf.ts";
import { OPS_CONNECTIONS_PAGE_PATH, OPS_CONNECTIONS_REVOKE_PAGE_PATH } from "./connections-paths.ts";
import { formatTime } from "./format.ts";
import { opsHeader, problem } from "./header.ts";
import { opsPage } from "./layout.ts";

type Connection = OpsConnections["connections"][number];

export interface ConnectionsView {
  company: string;
  user: UserProps;
  /** `all`: an administrator's view of every user; `own`: a user's view of their own connections. */
  scope: OpsConnections["scope"];
  /** The connections, or why they could not be read. */
  connections: Connection[] | { problem: string };
  csrf: string;
  /** The revocation just made, said once above the list. */
  notice?: string;
}

/** What each view says; the administrator's groups the rows by user, each with a "Revoke all" for offboarding. */
const WORDING = {
  all: {
    title: "Upstream connections",
    intro: `Users' connections to OAuth-protected upstream servers, the same as <code>npm run upstream-connections -- list</code>.
Revoking deletes the stored tokens (no token is ever shown): the user is asked to consent again on their next use.
Every revocation is audited as <code>upstream.revoked</code> under your e-mail.`,
    empty: "No user is connected to an OAuth-protected upstream server.",
    revokeAll: "Revoke all of this user's connections",
  },
  own: {
    title: "Your upstream connections",
    intro: `The OAuth-protected upstream servers you connected this proxy to. Revoking deletes the tokens the proxy keeps
for you (no token is ever shown): the next time you use that server, you are asked to consent again.`,
    empty: "You have no connections to OAuth-protected upstream servers.",
    revokeAll: "Revoke all of my connections",
  },
} as const;

/** The connections, each with a Revoke form, and a form that revokes all of a user's (POST with the session's CSRF token). */
export function connectionsPage(view: ConnectionsView): Response {
  const words = WORDING[view.scope];
  const notice = view.notice ? `<p class="notice" role="status">${escapeHtml(view.notice)}</p>` : "";
  const list =
    "problem" in view.connections
      ? problem("The connections could not be read", view.connections.problem)
      : view.connections.length === 0
        ? `<p class="empty-state">${words.empty}</p>`
        : byUser(view.connections)
            .map((rows, index) => userSection(rows, index, view))
            .join("\n");
  const header = opsHeader(view.company, view.user, OPS_CONNECTIONS_PAGE_PATH, view.csrf, view.scope === "all");
  const body = `${header}<main><h1>${words.title}</h1><p class="note">${words.intro}</p>${notice}${list}</main>`;
  return opsPage(`Ops dashboard: ${words.title.toLowerCase()}`, body);
}

/** The rows of each user together, in the origin's order (by e-mail, then server). */
function byUser(connections: Connection[]): Connection[][] {
  const users = new Map<string, Connection[]>();
  for (const connection of connections) users.set(connection.sub, [...(users.get(connection.sub) ?? []), connection]);
  return [...users.values()];
}

const nameOf = (connection: Connection) => connection.email ?? connection.sub;

function userSection(rows: Connection[], index: number, view: ConnectionsView): string {
  const [first] = rows as [Connection, ...Connection[]];
  const who = nameOf(first);
  const id = `user-${index}`;
  const heading = view.scope === "all" ? `<h2 id="${id}">${escapeHtml(who)}</h2>` : "";
  const caption = view.scope === "all" ? `Connections of ${who}` : "Your connections";
  const cells = (row: Connection) =>
    [
      row.server,
      formatTime(row.connectedSince),
      formatTime(row.lastRefreshed),
      row.expiresAt ? formatTime(row.expiresAt) : "unknown",
    ]
      .map((cell) => `<td>${escapeHtml(cell)}</td>`)
      .join("");
  const body = rows
    .map((row) => {
      const label = `Revoke ${row.server} for ${who}`;
      return `<tr>${cells(row)}<td>${revokeForm(row, view.csrf, "Revoke", label, row.server)}</td></tr>`;
    })
    .join("");
  const table = `<table><caption>${escapeHtml(caption)}</caption><thead><tr><th scope="col">Server</th>
<th scope="col">Connected since (UTC)</th><th scope="col">Last refreshed (UTC)</th><th scope="col">Token expires (UTC)</th>
<th scope="col">Revoke</th></tr></thead><tbody>${body}</tbody></table>`;
  const revokeAll = revokeForm(first, view.csrf, WORDING[view.scope].revokeAll, `${WORDING[view.scope].revokeAll}: ${who}`);
  const labelled = view.scope === "all" ? ` aria-labelledby="${id}"` : ' aria-label="Your connections"';
  return `<section class="connections"${labelled}>${heading}${table}${revokeAll}</section>`;
}

/** A Revoke button: the user by e-mail (or id when the row has none), one server or, without `server`, every one. */
function revokeForm(row: Connection, csrf: string, text: string, label: string, server?: string): string {
  const fields: Record<string, string> = row.email === null ? { sub: row.sub } : { user: row.email };
  if (server !== undefined) fields.server = server;
  fields[CSRF_FIELD] = csrf;
  const hidden = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
    .join("");
  const style = server === undefined ? "" : ' class="secondary"';
  return `<form method="post" action="${OPS_CONNECTIONS_REVOKE_PAGE_PATH}" class="revoke">${hidden}<button type="submit"${style} aria-label="${escapeHtml(label)}">${escapeHtml(text)}</button></form>`;
}
