import { DRY_RUN_MAX_DAYS, type DryRunReport } from "../../../contract/ops-trust.ts";
import { escapeHtml } from "../../auth/html.ts";
import type { UserProps } from "../../env.ts";
import { OPS_DRY_RUN_PAGE_PATH } from "../paths.ts";
import { CSRF_FIELD } from "../sign-in/csrf.ts";
import { dryRunReportHtml } from "./dry-run-report.ts";
import { opsHeader, problem } from "./header.ts";
import { opsPage } from "./layout.ts";

export interface DryRunView {
  company: string;
  user: UserProps;
  csrf: string;
  /** What the form holds: the candidate as typed and the days. */
  candidate: string;
  days: number;
  /** After a run: its report, the candidate's problems (each naming its key), or why the run failed. */
  outcome?: { report: DryRunReport } | { problems: string[] } | { problem: string };
  status?: number;
}

const EXAMPLE = `{
  "rules": [
    { "effect": "allow", "who": { "everyone": true }, "servers": ["*"] },
    { "effect": "deny", "who": { "everyone": true }, "servers": ["*"], "annotations": { "destructiveHint": true } }
  ]
}`;

/** The candidate policy's form and, after a run, its report: which decisions would change against the origin's policy. */
export function dryRunPage(view: DryRunView): Response {
  const body = `${opsHeader(view.company, view.user, OPS_DRY_RUN_PAGE_PATH, view.csrf)}<main><h1>Policy dry run</h1>
<p class="note">Evaluates a candidate policy against the audited tool calls of the last days, beside the policy the origin
runs now, and reports per user and tool which decisions would change, as <code>npm run policy -- dry-run</code> does.
Nothing is changed.</p>
<form method="post" action="${OPS_DRY_RUN_PAGE_PATH}" class="dry-run">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(view.csrf)}">
<label for="candidate">Candidate policy (JSON: <code>{ "rules": [...] }</code>)</label>
<textarea id="candidate" name="candidate" rows="14" spellcheck="false" required aria-describedby="candidate-hint"
 placeholder="${escapeHtml(EXAMPLE)}">${escapeHtml(view.candidate)}</textarea>
<p class="note" id="candidate-hint">The same rules as <code>origin.policy</code> in the configuration (docs/policy.md).</p>
<label for="days">Days of audit events</label>
<input id="days" name="days" type="number" min="1" max="${DRY_RUN_MAX_DAYS}" value="${view.days}" required>
<button type="submit">Run</button></form>
${outcome(view.outcome)}</main>`;
  return opsPage("Ops dashboard: policy dry run", body, { status: view.status });
}

function outcome(result: DryRunView["outcome"]): string {
  if (!result) return "";
  if ("report" in result) return dryRunReportHtml(result.report);
  if ("problem" in result) return problem("The dry run failed", result.problem);
  return `<section aria-labelledby="problems" class="problem" role="alert"><h2 id="problems">The candidate cannot be used</h2>
<ul>${result.problems.map((line) => `<li><code>${escapeHtml(line)}</code></li>`).join("")}</ul></section>`;
}
