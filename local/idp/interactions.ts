// The sign-in ("interaction") pages of the local OpenID provider, in place of oidc-provider's
// devInteractions. Two modes:
// - auto sign-in: GET /interaction/<uid> finishes at once for the configured account, login and
//   consent together, and redirects back into the authorization flow; no page at all, so a client
//   that only follows redirects (with cookies) gets to its redirect_uri;
// - picker: GET /interaction/<uid> shows one small form per dev account; POST
//   /interaction/<uid>/login with `account=<e-mail>` signs in as that account and grants consent.
// `prompt=select_account` (Google's) is answered like a login. Consent is never asked for: a consent-only interaction (the user is already signed in) is
// granted at once in both modes.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Interaction, Provider } from "oidc-provider";
import { DEV_ACCOUNTS, type DevAccount, findAccountByEmail, findAccountBySub } from "./accounts.ts";

export const INTERACTION_PATH = "/interaction/";
const MAX_FORM_BYTES = 16 * 1024;

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

export function interactionUrl(uid: string): string {
  return `${INTERACTION_PATH}${encodeURIComponent(uid)}`;
}

export interface InteractionHandlerOptions {
  provider: Provider;
  /** The account signed in without a page, or undefined to show the account picker. */
  autoSignIn: DevAccount | undefined;
}

/** Handles every request whose path starts with /interaction/. */
export async function handleInteraction(req: IncomingMessage, res: ServerResponse, options: InteractionHandlerOptions) {
  const { pathname } = new URL(req.url ?? "/", "http://idp.invalid");
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(pathname);
  const uid = match?.[1];
  if (!match || uid === undefined) return sendPage(res, 404, "Not found", "<p>There is no such page.</p>");
  const isLogin = match[2] !== undefined;
  if (!isLogin && req.method !== "GET") return sendMethodNotAllowed(res, "GET");
  if (isLogin && req.method !== "POST") return sendMethodNotAllowed(res, "POST");

  let details: Interaction;
  try {
    details = await options.provider.interactionDetails(req, res);
  } catch (error) {
    return sendPage(res, 400, "Sign-in expired", `<p>${escapeHtml(errorText(error))}</p><p>Start the sign-in again.</p>`);
  }
  if (details.uid !== uid) {
    return sendPage(res, 400, "Sign-in mismatch", "<p>This sign-in page does not belong to the current sign-in.</p>");
  }

  const sessionAccount = details.session?.accountId === undefined ? undefined : findAccountBySub(details.session.accountId);

  if (!isLogin) {
    if (details.prompt.name === "consent" && sessionAccount)
      return finish(req, res, options.provider, details, sessionAccount, false);
    if (!isAccountPrompt(details)) {
      return sendPage(res, 400, "Unsupported", `<p>Unsupported interaction ${escapeHtml(details.prompt.name)}.</p>`);
    }
    if (options.autoSignIn) return finish(req, res, options.provider, details, options.autoSignIn, true);
    return sendPage(res, 200, "Sign in", pickerBody(details));
  }

  if (!isAccountPrompt(details)) {
    return sendPage(res, 400, "Unexpected sign-in", "<p>This sign-in does not ask for an account.</p>");
  }
  let form: URLSearchParams;
  try {
    form = await readForm(req);
  } catch (error) {
    return sendPage(res, 400, "Bad request", `<p>${escapeHtml(errorText(error))}</p>`);
  }
  const account = findAccountByEmail(form.get("account") ?? "");
  if (!account) return sendPage(res, 400, "Unknown account", `<p>No dev account ${escapeHtml(form.get("account") ?? "")}.</p>`);
  if (sessionAccount && sessionAccount.sub !== account.sub) {
    // oidc-provider would answer this with an RP-initiated-logout confirmation, which is disabled here.
    return sendPage(
      res,
      409,
      "Already signed in",
      `<p>This browser session is already signed in as ${escapeHtml(sessionAccount.email)}. ` +
        "Use a fresh cookie jar (or a private window) to sign in as someone else.</p>",
    );
  }
  return finish(req, res, options.provider, details, account, true);
}

async function finish(
  req: IncomingMessage,
  res: ServerResponse,
  provider: Provider,
  details: Interaction,
  account: DevAccount,
  login: boolean,
): Promise<void> {
  const clientId = String(details.params.client_id);
  let grant = details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId);
  if (!grant || grant.accountId !== account.sub || grant.clientId !== clientId) {
    grant = new provider.Grant({ accountId: account.sub, clientId });
  }
  // Grant everything asked for: every requested OIDC scope (unknown ones are filtered by the
  // provider) and any claims the consent check reported as missing.
  if (typeof details.params.scope === "string" && details.params.scope.trim() !== "") grant.addOIDCScope(details.params.scope);
  const missingClaims = details.prompt.details.missingOIDCClaims;
  if (Array.isArray(missingClaims)) grant.addOIDCClaims(missingClaims.filter((c): c is string => typeof c === "string"));
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    login ? { login: { accountId: account.sub }, select_account: {}, consent: { grantId } } : { consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

function isAccountPrompt(details: Interaction): boolean {
  return details.prompt.name === "login" || details.prompt.name === "select_account";
}

function pickerBody(details: Interaction): string {
  const action = `${interactionUrl(details.uid)}/login`;
  const forms = DEV_ACCOUNTS.map(
    (account) =>
      `<form method="post" action="${escapeHtml(action)}">` +
      `<input type="hidden" name="account" value="${escapeHtml(account.email)}">` +
      `<button type="submit">${escapeHtml(account.name)} &lt;${escapeHtml(account.email)}&gt;` +
      (account.groups.length ? ` (${escapeHtml(account.groups.join(", "))})` : "") +
      `</button></form>`,
  ).join("\n");
  return `<p>Local development sign-in for <code>${escapeHtml(details.params.client_id)}</code>. Choose an account:</p>\n${forms}`;
}

function sendPage(res: ServerResponse, status: number, title: string, body: string): void {
  const html =
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · local IdP</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto}button{display:block;width:100%;margin:.5rem 0;padding:.6rem;font-size:1rem}</style>` +
    `</head><body><h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`;
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.end(html);
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader("Allow", allow);
  sendPage(res, 405, "Method not allowed", "");
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw new Error("expected an application/x-www-form-urlencoded body");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_FORM_BYTES) throw new Error("form body too large");
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function errorText(error: unknown): string {
  if (error && typeof error === "object") {
    const { error_description: description, message } = error as { error_description?: unknown; message?: unknown };
    if (typeof description === "string") return description;
    if (typeof message === "string") return message;
  }
  return String(error);
}
