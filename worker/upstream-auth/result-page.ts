import type { EdgeConfig } from "../../contract/config/schema.ts";
import { escapeHtml, htmlPage } from "../auth/html.ts";
import { noticeFacts, noticeLocation } from "../ops/trust/sealed-notice.ts";

/**
 * Where the end of an upstream connection sends the browser (303, Post/Redirect/Get): the outcome travels in the
 * address, so a reload, Back or a restored tab shows it again, instead of "Not connected" once the sign-in's cookie is
 * gone (s24 hunt pages F4).
 */
export const UPSTREAM_OAUTH_RESULT_PATH = "/upstream-oauth/result";

/** How long a result address shows its outcome; after that, the page says what it can without it. */
const RESULT_SHOWN_MS = 24 * 3600_000;

/**
 * What the end of a connection says: its HTTP status (200: connected) and sentence. Sealed as the dashboard seals its
 * notices (sealed-notice.ts), under a key of the edge's signing key: only this edge writes one (no link crafted
 * elsewhere puts words on its page), and the address does not show the e-mail it names (Cloudflare's request logs,
 * the browser's history).
 */
export interface ConnectionOutcome {
  status: number;
  message: string;
}

const keyOf = (config: EdgeConfig) => `upstream-oauth-result\u0000${config.signingKey}`;

/** The result address of `outcome`. */
export const resultLocation = (config: EdgeConfig, outcome: ConnectionOutcome): Promise<string> =>
  noticeLocation(keyOf(config), UPSTREAM_OAUTH_RESULT_PATH, {
    status: String(outcome.status),
    message: outcome.message,
    until: String(Date.now() + RESULT_SHOWN_MS),
  });

/** GET of a result address: its outcome, or (none that opens, or an old one) what is true either way. */
export async function resultPage(request: Request, config: EdgeConfig): Promise<Response> {
  const facts = await noticeFacts(request, keyOf(config), UPSTREAM_OAUTH_RESULT_PATH);
  const status = Number(facts?.status);
  if (facts?.message && Number(facts.until) > Date.now() && status >= 200 && status < 600)
    return connectionPage(status, facts.message);
  return htmlPage("Connecting your account", `<h1>Connecting your account</h1><p>${escapeHtml(NO_OUTCOME)}</p>`);
}

/** What a page without the outcome says: true whether or not the person has just connected. */
export const NO_OUTCOME =
  "This page no longer knows how your connection ended. If you just connected your account, you are done: go back to your MCP client. Otherwise call the tool again for a new link.";

/** The end of a connection: "Connected" (200) or "Not connected", and the sentence. */
export function connectionPage(status: number, message: string, headers?: Headers): Response {
  const title = status === 200 ? "Connected" : "Not connected";
  return htmlPage(title, `<h1>${title}</h1><p>${escapeHtml(message)}</p>`, { status, ...(headers && { headers }) });
}
