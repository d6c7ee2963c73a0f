/** Escapes text for HTML element content and quoted attribute values. Everything a client or IdP chose passes through it. */
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
};

/** A minimal page in the edge's look; `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string, init: { status?: number; headers?: Headers } = {}): Response {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) headers.set(name, value);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .75rem;border-radius:6px}
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;cursor:pointer}
button[value=approve]{background:#1f883d;color:#fff;border-color:#1f883d}</style></head>
<body>${body}</body></html>`;
  return new Response(html, { status: init.status ?? 200, headers });
}

/** A sign-in problem shown to the person in the browser (never redirected: the redirect target is not trusted yet). */
export const errorPage = (status: number, message: string): Response =>
  htmlPage("Sign-in failed", `<h1>Sign-in failed</h1><p>${escapeHtml(message)}</p><p>Start again from your MCP client.</p>`, {
    status,
  });
