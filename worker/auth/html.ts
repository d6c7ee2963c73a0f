import { randomToken } from "./idp/pkce.ts";

/** Escapes text for HTML element content and quoted attribute values. Everything a client or IdP chose passes through it. */
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

// No script but the page's own (a nonce'd inline one, where a page has one), no resource from anywhere (the style is
// inline), never framed.
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

// Light and dark palettes; every text colour keeps at least 4.5:1 against its background (WCAG AA), which
// test/browser/consent-page.test.ts measures in Chromium.
const STYLE = `:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--focus:#0969da;--ok:#1a7f37;--button:#f6f8fa;--warn:#fff8c5;--warn-line:#9a6700}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--focus:#4493f8;--ok:#238636;--button:#21262d;--warn:#3b2e00;--warn-line:#d29922}}
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:var(--bg);color:var(--fg)}
header{border-bottom:1px solid var(--line);padding:.75rem 1rem;font-weight:600}
main{max-width:38rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;line-height:1.25}h2{font-size:1.1rem}h1,dd{overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem}dt{color:var(--muted)}dd{margin:0}
.note{color:var(--muted)}.unverified{font-weight:600}.host{font:1.1em ui-monospace,monospace;overflow-wrap:anywhere}
.warn{background:var(--warn);border:1px solid var(--warn-line);padding:.5rem .75rem;border-radius:6px}
button{font:inherit;padding:.5rem 1.25rem;margin:0 .75rem .5rem 0;border-radius:6px;border:1px solid var(--line);background:var(--button);color:var(--fg);cursor:pointer}
button[value=approve]{background:var(--ok);border-color:var(--ok);color:#fff}
form button{animation:arm .7s step-end}@keyframes arm{from,to{pointer-events:none}}form.arming button{pointer-events:none}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}`;

/**
 * A page in the edge's look; `body` must already be escaped HTML. `banner` names the company above it. `script` is a
 * constant of the edge's own (never anything a client chose): it runs under a nonce made for this response alone.
 */
export function htmlPage(
  title: string,
  body: string,
  init: { status?: number; headers?: Headers; banner?: string; script?: string } = {},
): Response {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) headers.set(name, value);
  let script = "";
  if (init.script) {
    const nonce = randomToken();
    headers.set("content-security-policy", `${PAGE_HEADERS["content-security-policy"]}; script-src 'nonce-${nonce}'`);
    script = `<script nonce="${nonce}">${init.script}</script>`;
  }
  const banner = init.banner ? `<header>${escapeHtml(init.banner)}</header>` : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head>
<body>${banner}<main>${body}</main>${script}</body></html>`;
  return new Response(html, { status: init.status ?? 200, headers });
}

/**
 * Where a sign-in through /authorize and /callback starts again, for a page that cannot tell whose it was: an MCP
 * client's, or the edge's own (the dashboard's starts at /ops).
 */
export const START_AGAIN = "Start again where you began: in your MCP client, or at the dashboard (/ops) for its sign-in.";

/**
 * A sign-in problem shown to the person in the browser (never redirected: the redirect target is not trusted yet),
 * with what to do next (by default, start again from the MCP client).
 */
export const errorPage = (status: number, message: string, next = "Start again from your MCP client."): Response =>
  htmlPage("Sign-in failed", `<h1>Sign-in failed</h1><p>${escapeHtml(message)}</p><p>${escapeHtml(next)}</p>`, { status });
