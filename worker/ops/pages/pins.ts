import { type DefinitionKind, isDefinitionKind, type WaitingDefinitions } from "../../../contract/ops-trust.ts";
import { printable } from "../../../contract/printable.ts";
import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_PINS_DECIDE_PAGE_PATH, OPS_PINS_PAGE_PATH } from "../paths.ts";
import { CSRF_FIELD } from "../sign-in/csrf.ts";
import { formatTime } from "./format.ts";
import { opsHeader, problem } from "./header.ts";
import { opsPage } from "./layout.ts";
import { sideBySideTable } from "./side-by-side.ts";

type Waiting = WaitingDefinitions["waiting"][number];

export interface PinsView {
  company: string;
  user: UserProps;
  /** What waits, or why it could not be read. */
  waiting: Waiting[] | { problem: string };
  csrf: string;
  /** The decision just made, said once above the list. */
  notice?: string;
}

const KINDS: Record<DefinitionKind, string> = {
  tool: "Tool",
  prompt: "Prompt",
  resource: "Resource",
  resource_template: "Resource template",
  discovery: "Server description",
};

/** What waits for an administrator's decision, each change side by side with Approve and Reject. */
export function pinsPage(view: PinsView): Response {
  const notice = view.notice ? `<p class="notice" role="status">${escapeHtml(view.notice)}</p>` : "";
  const list =
    "problem" in view.waiting
      ? problem("What waits could not be read", view.waiting.problem)
      : view.waiting.length === 0
        ? '<p class="empty-state">Nothing waits for a decision: every definition the servers show is approved.</p>'
        : view.waiting.map((waiting, index) => change(waiting, index, view.csrf)).join("\n");
  const body = `${opsHeader(view.company, view.user, OPS_PINS_PAGE_PATH, view.csrf)}<main><h1>Pinned definitions waiting for a decision</h1>
<p class="note">A tool, prompt, resource, resource template or server description that is new or changed is withheld from clients until
it is approved here (or with <code>npm run pins</code>). Running origins apply a decision within seconds.</p>${notice}${list}</main>`;
  return opsPage("Ops dashboard: pinned definitions", body);
}

function change(waiting: Waiting, index: number, csrf: string): string {
  const known = isDefinitionKind(waiting.kind);
  // The name as the upstream sent it, its unseen characters shown (a right-to-left override would make it read as another).
  const kind = known ? KINDS[waiting.kind as DefinitionKind] : `Kind “${printable(waiting.kind)}”`;
  const title = `${kind} ${waiting.kind === "discovery" ? "" : `“${printable(waiting.name)}” `}of ${printable(waiting.server)}`;
  const what =
    (Object.hasOwn(CHANGES, waiting.change) && CHANGES[waiting.change]) || `${printable(waiting.change)} (as the origin says)`;
  const headings: [string, string] = [
    waiting.approvedFingerprint ? `Approved (${waiting.approvedFingerprint.slice(0, 12)})` : "Approved (none)",
    `Waiting (${waiting.fingerprint.slice(0, 12)})`,
  ];
  const id = `change-${index}`;
  return `<section aria-labelledby="${id}" class="pin"><h2 id="${id}">${escapeHtml(title)}</h2>
<p class="note">${escapeHtml(what)} · first seen ${escapeHtml(formatTime(waiting.firstSeen))} UTC</p>
${sideBySideTable(`${title}: the approved definition beside the waiting one`, waiting.rows, headings)}
${known ? decideForm(waiting, csrf) : UNKNOWN_KIND}</section>`;
}

const CHANGES: Partial<Record<string, string>> = { new: "New: never approved before", changed: "Changed since it was approved" };

// The origin is newer than this edge (the AWS tier is deployed first): a decision about a kind this edge cannot name
// would be refused as unreadable, so none is offered.
const UNKNOWN_KIND =
  '<p class="note">This dashboard is older than the origin and does not know this kind: decide it with <code>npm run pins</code>, or here once the edge is updated.</p>';

function decideForm(waiting: Waiting, csrf: string): string {
  const hidden = {
    server: waiting.server,
    kind: waiting.kind,
    name: waiting.name,
    fingerprint: waiting.fingerprint,
    [CSRF_FIELD]: csrf,
  };
  const fields = Object.entries(hidden)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
    .join("");
  return `<form method="post" action="${OPS_PINS_DECIDE_PAGE_PATH}" class="decide">${fields}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="reject" class="secondary">Reject</button></form>`;
}
