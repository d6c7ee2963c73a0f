// The dashboard's style sheet, served at /ops/style.css (the page's CSP allows no inline style). Light and dark
// palettes; text keeps at least 4.5:1 against its background (WCAG AA), which test/browser/ops-dashboard.test.ts measures.
export const OPS_STYLE = `:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;--focus:#0969da;--link:#0550ae;--calls:#0969da;--errors:#cf222e;--p50:#1a7f37;--bad-bg:#ffebe9;--bad:#a40e26;--added-bg:#dafbe1;--removed-bg:#ffebe9;--changed-bg:#fff8c5;--button-bg:#0969da;--button-fg:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--panel:#161b22;--focus:#4493f8;--link:#58a6ff;--calls:#4493f8;--errors:#f85149;--p50:#3fb950;--bad-bg:#3c1618;--bad:#ff9492;--added-bg:#12361f;--removed-bg:#3c1618;--changed-bg:#3a3012;--button-bg:#1158c7;--button-fg:#fff}}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:var(--bg);color:var(--fg)}
a{color:var(--link)}
header{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5rem;border-bottom:1px solid var(--line);padding:.75rem 1rem}
.brand{font-weight:600}
nav{display:flex;flex-wrap:wrap;gap:.25rem;padding:.5rem 1rem;border-bottom:1px solid var(--line)}
nav a{padding:.25rem .75rem;border-radius:6px;text-decoration:none}
nav a[aria-current=page]{background:var(--panel);border:1px solid var(--line);color:var(--fg);font-weight:600}
main{max-width:72rem;margin:1rem auto;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.note,.detail,figcaption,caption{color:var(--muted)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.75rem;margin:0}
.tile{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem}
.tile dt{color:var(--muted);font-size:.9rem}.tile dd{margin:0}
.tile .value{display:block;font-size:1.5rem;font-weight:600}.tile .detail{display:block;font-size:.85rem}
.tile.bad{background:var(--bad-bg);border-color:var(--bad)}.tile.bad .value{color:var(--bad)}
.problem{background:var(--bad-bg);border:1px solid var(--bad);padding:.5rem .75rem;border-radius:6px}
.empty-state{background:var(--panel);border:1px dashed var(--line);padding:1rem;border-radius:8px}
figure{margin:0}.chart{width:100%;height:auto;max-width:60rem}
.chart .calls{fill:var(--calls)}.chart .errors{fill:var(--errors)}.chart .p95{fill:var(--calls)}.chart .p50{fill:var(--p50)}
.chart .axis{stroke:var(--line)}.chart .label{fill:var(--muted);font-size:11px}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .75em;vertical-align:-.05em}
.key.calls,.key.p95{background:var(--calls)}.key.errors{background:var(--errors)}.key.p50{background:var(--p50)}
table{border-collapse:collapse;margin:.75rem 0;min-width:50%}
caption{text-align:left;padding:.25rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .6rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
td.empty{color:var(--muted);font-style:italic}
td.bad{background:var(--bad-bg);color:var(--bad);font-weight:600}
.pair{display:flex;flex-wrap:wrap;gap:0 2rem}.pair h2{flex-basis:100%}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem}.facts dt{color:var(--muted)}.facts dd{margin:0}
code{font:.95em ui-monospace,monospace}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
nav.pages a{font-weight:500}
.notice{background:var(--panel);border:1px solid var(--line);padding:.5rem .75rem;border-radius:6px}
.pin{border-top:1px solid var(--line);margin-top:1.5rem}
table.diff{width:100%;table-layout:fixed}table.diff td,table.diff th{width:46%}table.diff .mark{width:8%;font-size:.85rem}
table.diff code{white-space:pre-wrap;word-break:break-word}
tr.added td{background:var(--added-bg)}tr.removed td{background:var(--removed-bg)}tr.changed td{background:var(--changed-bg)}
form.decide{display:flex;gap:.75rem;margin:.5rem 0 1rem}
form.dry-run,form.sign-out-user{display:grid;gap:.4rem;max-width:60rem}form.dry-run label,form.sign-out-user label{font-weight:600}
textarea,input{font:14px/1.4 ui-monospace,monospace;color:var(--fg);background:var(--bg);border:1px solid var(--muted);border-radius:6px;padding:.4rem}
textarea{width:100%}input[type=number]{width:8rem}
button{font:inherit;font-weight:600;padding:.4rem 1.1rem;border-radius:6px;border:1px solid var(--button-bg);background:var(--button-bg);color:var(--button-fg);cursor:pointer;justify-self:start}
button.secondary{background:var(--bg);color:var(--fg);border-color:var(--muted)}
form.sign-out{display:inline}button.link{background:none;border:0;padding:0;color:var(--link);font-weight:inherit;text-decoration:underline}
.summary{font-size:1.1rem;font-weight:600}`;
