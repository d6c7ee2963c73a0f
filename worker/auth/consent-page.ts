import type { ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { escapeHtml, htmlPage } from "./html.ts";

/**
 * Asks the user whether this MCP client may act for them, before they are sent to the identity provider
 * (per-client consent against the confused deputy). Shows who asks, where the tokens go and what is granted.
 */
export function consentPage(details: ConsentDescription, handle: string, headers: Headers): Response {
  const name = escapeHtml(details.clientName);
  const publisher = details.clientDomain
    ? `Published by <strong>${escapeHtml(details.clientDomain)}</strong>.`
    : "This app registered itself: its name is not verified.";
  const loopbackWarning = details.redirectIsLoopback
    ? '<p class="warn">Access will be sent to an app on <strong>this computer</strong>. Continue only if you just started signing in from it.</p>'
    : "";
  // A private-use scheme (RFC 8252 §7.1, e.g. cursor://) reaches whichever app on this computer claimed it.
  const scheme = new URL(details.redirectUri).protocol;
  const appSchemeWarning =
    scheme === "http:" || scheme === "https:"
      ? ""
      : `<p class="warn">Access will be sent to the app that handles <strong>${escapeHtml(scheme)}//</strong> links on <strong>this computer</strong>. Continue only if you just started signing in from it.</p>`;
  const scopes = details.scope.map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`).join("");
  return htmlPage(
    `Allow ${details.clientName}?`,
    `<h1>Allow ${name} to use your company's MCP servers as you?</h1>
<p>${publisher} Access will be sent to <strong>${escapeHtml(details.redirectHost)}</strong>.</p>
${loopbackWarning}
${appSchemeWarning}
${scopes ? `<p>It asks for:</p><ul>${scopes}</ul>` : ""}
<p>You will sign in with your company account next.</p>
<form method="post">
<input type="hidden" name="handle" value="${escapeHtml(handle)}">
<button name="decision" value="approve">Allow</button><button name="decision" value="deny">Deny</button>
</form>`,
    { headers },
  );
}
