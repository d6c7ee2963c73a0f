import { escapeHtml } from "../../auth/html.ts";
import { OPS_SCRIPT_PATH, OPS_STYLE_PATH } from "../paths.ts";

// Nothing from anywhere else, no inline script or style: the style and the live tail's script are files of this edge.
// The page holds user e-mails (the admin's audit), so no cache keeps it and no referrer carries its URL away.
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

export interface OpsPageOptions {
  status?: number;
  headers?: Headers;
  /** Include the live tail's script (the only script; the page works without it). */
  withTail?: boolean;
}

/** A dashboard page; `body` must already be escaped HTML. */
export function opsPage(title: string, body: string, options: OpsPageOptions = {}): Response {
  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) headers.set(name, value);
  const script = options.withTail ? `<script src="${OPS_SCRIPT_PATH}" defer></script>` : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${OPS_STYLE_PATH}">${script}</head>
<body>${body}</body></html>`;
  return new Response(html, { status: options.status ?? 200, headers });
}
