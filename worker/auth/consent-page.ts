import type { ConsentDescription } from "@cloudflare/workers-oauth-provider";
import type { EdgeConfig } from "../../contract/config/schema.ts";
import { SHOWN_FIELD } from "../../contract/consent-arming.ts";
import { mcpResource } from "../config.ts";
import { opsResource } from "../ops/paths.ts";
import { clientLabel } from "./clients/client-label.ts";
import { CONSENT_REARMING_SCRIPT } from "./consent-rearming.ts";
import { escapeHtml, htmlPage } from "./html.ts";
import { CHOOSE_ACCOUNT_FIELD } from "./idp/account-choice.ts";
import type { OwnBrowserClient } from "./own-browser-client.ts";
import { describeScope } from "./scope-descriptions.ts";

/**
 * The servers a grant opens: every server the user may use (the umbrella `/mcp`), or one. The umbrella's are not
 * named: this page comes before sign-in, so neither the user nor the policy's answer for them is known yet, and a
 * server's name (`hr-payroll`) must not reach anyone the policy refuses it (or anyone at all, before sign-in).
 */
export type GrantedServers =
  | { every: true }
  | { every: false; name: string }
  /** The ops dashboard's resource: no MCP server at all. */
  | { every: false; dashboard: true };

export interface ConsentView {
  details: ConsentDescription;
  handle: string;
  /** The library's consent headers (the binding cookie, no framing). */
  headers: Headers;
  /** The company or edge name (`displayName`, else the edge's host name), above the page. */
  company: string;
  /** Whose servers and account the sentences speak of (`companyWords`). */
  owner: CompanyWords;
  servers: GrantedServers;
  /** The account-choice box starts ticked (the client asked for a sign-in or an account choice). */
  chooseAccount: boolean;
  /** Which of the edge's own sign-ins asks, or null for an MCP client. */
  own: OwnBrowserClient | null;
}

/**
 * Asks the user whether this MCP client may act for them, before they are sent to the identity provider
 * (per-client consent against the confused deputy). Shows who asks and how sure that is, where the access goes
 * (the redirect host: what gives a phishing client away), which servers, and in words what is granted. The edge's
 * own sign-ins (the dashboard's, an upstream connection's end) get a page of their own instead (s24 hunt pages F3).
 */
export function consentPage(view: ConsentView): Response {
  if (view.own) return ownSignInPage(view, view.own);
  const { details, handle, headers, company, owner, servers, chooseAccount } = view;
  const client = clientLabel(details);
  const name = escapeHtml(client.name);
  const body = `<h1>Allow ${name} to use ${escapeHtml(owner.possessive)} MCP servers as you?</h1>
<dl>
<dt>App</dt><dd><strong>${name}</strong><br><span class="note${client.alarm ? " unverified" : ""}">${escapeHtml(client.note)}</span></dd>
<dt>Access goes to</dt><dd><strong class="host">${escapeHtml(details.redirectHost)}</strong></dd>
<dt>Servers</dt><dd>${serversText(servers, owner)}</dd>
<dt>Account</dt><dd>${nextAccount(owner)}</dd>
</dl>
${destinationWarning(details)}
<h2>It will be able to</h2>
<ul>${details.scope.map((scope) => `<li>${escapeHtml(describeScope(scope))}</li>`).join("")}</ul>
${decisionForm(handle, chooseAccount, ["Allow", "Deny"])}
<p class="note">Allow only an app you started connecting from just now. If in doubt, choose Deny.</p>`;
  return htmlPage(`Allow ${client.name}?`, body, { headers, banner: company, script: CONSENT_REARMING_SCRIPT });
}

/** The edge's own sign-in: what it is for and the account, no app to vouch for, no scopes to explain. */
function ownSignInPage({ handle, headers, company, owner, chooseAccount }: ConsentView, own: OwnBrowserClient): Response {
  const body = `<h1>${escapeHtml(own.heading)}</h1>
<p>${escapeHtml(own.purpose)}</p>
<dl><dt>Account</dt><dd>${nextAccount(owner)}</dd></dl>
${decisionForm(handle, chooseAccount, ["Continue", "Cancel"])}`;
  return htmlPage(own.heading, body, { headers, banner: company, script: CONSENT_REARMING_SCRIPT });
}

const nextAccount = (owner: CompanyWords) => `You will sign in with ${escapeHtml(owner.account)} next.`;

/** The decision, bound to this page's consent transaction, armed as contract/consent-arming.ts has it. */
function decisionForm(handle: string, chooseAccount: boolean, [approve, deny]: [string, string]): string {
  return `<form method="post">
<input type="hidden" name="handle" value="${escapeHtml(handle)}">
<input type="hidden" name="${SHOWN_FIELD}" value="${Date.now()}">
<p><label><input type="checkbox" name="${CHOOSE_ACCOUNT_FIELD}" value="1"${chooseAccount ? " checked" : ""}> Let me choose the account (or sign in with another)</label></p>
<button name="decision" value="approve">${approve}</button><button name="decision" value="deny">${deny}</button>
</form>`;
}

/** The company or edge name people see: `displayName`, else the edge's host name. */
export const companyName = (config: EdgeConfig): string => config.displayName ?? new URL(config.publicUrl).hostname;

/** How sentences name the company: by `displayName`; without one, not by the edge's host name ("127.0.0.1's account"). */
export interface CompanyWords {
  /** "Example Corp's" or "this proxy's". */
  possessive: string;
  /** "your Example Corp account" or "your company account". */
  account: string;
}

export const companyWords = ({ displayName }: EdgeConfig): CompanyWords =>
  displayName
    ? { possessive: `${displayName}'s`, account: `your ${displayName} account` }
    : { possessive: "this proxy's", account: "your company account" };

/** What a grant for `resource` opens (the library has already refused any resource the edge does not serve). */
export function grantedServers(config: EdgeConfig, resource: string | undefined): GrantedServers {
  const umbrella = mcpResource(config);
  if (!resource || resource === umbrella) return { every: true };
  if (resource === opsResource(config)) return { every: false, dashboard: true };
  return { every: false, name: resource.slice(umbrella.length + 1) };
}

function serversText(servers: GrantedServers, owner: CompanyWords): string {
  if ("dashboard" in servers) return "None: only this proxy's ops dashboard";
  if (!servers.every) return `Only <strong>${escapeHtml(servers.name)}</strong>`;
  return `Every server ${escapeHtml(owner.possessive)} policy lets you use`;
}

/** Access sent to this computer reaches whichever local app listens there: the user should know they started it. */
function destinationWarning(details: ConsentDescription): string {
  const scheme = new URL(details.redirectUri).protocol;
  // A private-use scheme (RFC 8252 §7.1, e.g. cursor://) reaches whichever app on this computer claimed it.
  const where =
    scheme !== "http:" && scheme !== "https:"
      ? `to the app that handles <strong>${escapeHtml(scheme)}//</strong> links on <strong>this computer</strong>`
      : details.redirectIsLoopback
        ? "to an app on <strong>this computer</strong>"
        : "";
  return where
    ? `<p class="warn" role="note">Access will be sent ${where}. Continue only if you just started signing in from it.</p>`
    : "";
}
