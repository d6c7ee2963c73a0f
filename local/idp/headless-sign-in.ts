import { CONSENT_ARMING_MS, SHOWN_FIELD } from "../../contract/consent-arming.ts";
// Drive a browser-style OAuth/OIDC redirect chain with plain fetch: manual redirects, a small cookie
// jar, and optionally the submission of a single consent form on the way. Used by the IdP tests and
// by the end-to-end tests, which run an MCP client's OAuth flow through the proxy's consent page and
// the local IdP's headless sign-in.
//
//   const { finalUrl } = await followRedirects(authorizationUrl, {
//     approveForms: true,                                   // submit the proxy's consent form
//     stopAt: (url) => url.origin + url.pathname === redirectUri, // never fetched
//   });
//   const code = finalUrl.searchParams.get("code");
//
// The jar behaves like a browser's in the ways these flows need: cookies are per host name (not per
// port, as in browsers), Path-matched, removed by Max-Age<=0 or a past Expires, and `Secure` /
// `__Host-` / `__Secure-` cookies are kept and sent over plain http for loopback hosts (browsers treat
// localhost as a secure context). Domain and SameSite are ignored.

export interface StoredCookie {
  name: string;
  value: string;
  path: string;
  secure: boolean;
  expiresAt: number; // epoch ms; Infinity for session cookies
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function isTrustworthy(url: URL): boolean {
  return url.protocol === "https:" || LOOPBACK_HOSTS.has(url.hostname) || url.hostname.endsWith(".localhost");
}

export class CookieJar {
  readonly #hosts = new Map<string, Map<string, StoredCookie>>();

  /** Store every Set-Cookie header of a response to `url`. */
  storeFrom(url: URL | string, headers: Headers): void {
    for (const header of headers.getSetCookie()) this.setCookie(url, header);
  }

  /** Apply one Set-Cookie header value received from `url`. */
  setCookie(url: URL | string, header: string): void {
    const from = new URL(url);
    const [pair = "", ...attributes] = header.split(";");
    const eq = pair.indexOf("=");
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path: string | undefined;
    let secure = false;
    let maxAge: number | undefined;
    let expires: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf("=");
      const key = (i === -1 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const val = i === -1 ? "" : attribute.slice(i + 1).trim();
      if (key === "path" && val.startsWith("/")) path = val;
      else if (key === "secure") secure = true;
      else if (key === "max-age" && /^-?\d+$/.test(val)) maxAge = Number(val);
      else if (key === "expires") {
        const time = Date.parse(val);
        if (!Number.isNaN(time)) expires = time;
      }
    }
    if ((secure || name.startsWith("__Host-") || name.startsWith("__Secure-")) && !isTrustworthy(from)) return;
    path ??= defaultPath(from.pathname);
    const expiresAt = maxAge !== undefined ? Date.now() + maxAge * 1000 : (expires ?? Number.POSITIVE_INFINITY);
    const cookies = this.#hosts.get(from.hostname) ?? new Map<string, StoredCookie>();
    this.#hosts.set(from.hostname, cookies);
    const key = `${name};${path}`;
    if (expiresAt <= Date.now()) cookies.delete(key);
    else cookies.set(key, { name, value, path, secure, expiresAt });
  }

  /** The cookies a browser would send to `url`, longest path first. */
  cookiesFor(url: URL | string): StoredCookie[] {
    const to = new URL(url);
    const cookies = this.#hosts.get(to.hostname);
    if (!cookies) return [];
    const now = Date.now();
    const out: StoredCookie[] = [];
    for (const [key, cookie] of cookies) {
      if (cookie.expiresAt <= now) {
        cookies.delete(key);
        continue;
      }
      if (cookie.secure && !isTrustworthy(to)) continue;
      if (pathMatches(to.pathname, cookie.path)) out.push(cookie);
    }
    return out.sort((a, b) => b.path.length - a.path.length);
  }

  /** The Cookie request header for `url`, or undefined when there is nothing to send. */
  cookieHeader(url: URL | string): string | undefined {
    const cookies = this.cookiesFor(url);
    return cookies.length ? cookies.map((c) => `${c.name}=${c.value}`).join("; ") : undefined;
  }

  /** Value of the named cookie that would be sent to `url`. */
  get(url: URL | string, name: string): string | undefined {
    return this.cookiesFor(url).find((c) => c.name === name)?.value;
  }

  clear(): void {
    this.#hosts.clear();
  }
}

function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith("/")) return "/";
  const last = requestPath.lastIndexOf("/");
  return last <= 0 ? "/" : requestPath.slice(0, last);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

export interface FollowRedirectsOptions {
  /** Cookie jar to use and fill; a new one when absent. */
  jar?: CookieJar;
  /** Return as soon as the next URL satisfies this, without fetching it. */
  stopAt?: (url: URL) => boolean;
  /** Submit a 200 text/html page holding exactly one `<form method="post">` (hidden inputs + decision=approve). */
  approveForms?: boolean;
  /** Maximum number of requests (default 25). */
  maxSteps?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

export interface FollowRedirectsResult {
  /** The URL `stopAt` accepted, or the URL of the last response when there is no `stopAt`. */
  finalUrl: URL;
  jar: CookieJar;
  /** Status and body of the last response when the chain ended without `stopAt` (undefined when `stopAt` matched). */
  status?: number;
  body?: string;
}

interface Step {
  url: URL;
  method: "GET" | "POST";
  body?: string;
  origin?: string;
}

/**
 * Follow redirects from `url` like a browser would (GET, cookies), optionally approving one consent
 * form per page. With `stopAt`, ending anywhere else (an error page, an unexpected page) throws an
 * Error that says where the chain stopped, with the status and the start of the body.
 */
export async function followRedirects(url: string, opts: FollowRedirectsOptions = {}): Promise<FollowRedirectsResult> {
  const jar = opts.jar ?? new CookieJar();
  const maxSteps = opts.maxSteps ?? 25;
  const trail: string[] = [];
  let step: Step = { url: new URL(url), method: "GET" };

  for (let count = 0; ; count += 1) {
    if (opts.stopAt?.(step.url)) return { finalUrl: step.url, jar };
    if (count >= maxSteps) {
      throw new Error(`followRedirects: more than ${maxSteps} requests; last ones: ${trail.slice(-5).join(" -> ")}`);
    }
    trail.push(`${step.method} ${step.url.href}`);
    const headers = new Headers(opts.headers);
    headers.set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    const cookie = jar.cookieHeader(step.url);
    if (cookie) headers.set("Cookie", cookie);
    if (step.method === "POST") {
      headers.set("Content-Type", "application/x-www-form-urlencoded");
      if (step.origin) headers.set("Origin", step.origin);
    }
    const response = await fetch(step.url, { method: step.method, headers, body: step.body, redirect: "manual" });
    jar.storeFrom(step.url, response.headers);

    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, step.url);
      const keepMethod = response.status === 307 || response.status === 308;
      step = keepMethod ? { ...step, url: next } : { url: next, method: "GET" };
      continue;
    }

    const body = await response.text();
    const type = response.headers.get("content-type") ?? "";
    if (opts.approveForms && response.status === 200 && /^text\/html\b/i.test(type)) {
      const form = singlePostForm(body, step.url);
      if (form) {
        await readForAMoment(form.fields);
        step = { url: form.action, method: "POST", body: form.fields.toString(), origin: step.url.origin };
        continue;
      }
    }

    if (opts.stopAt) {
      throw new Error(
        `followRedirects: the chain ended at ${step.url.href} with status ${response.status} before reaching stopAt; ` +
          `body: ${body.slice(0, 600)}; trail: ${trail.join(" -> ")}`,
      );
    }
    return { finalUrl: step.url, jar, status: response.status, body };
  }
}

export interface ParsedForm {
  action: URL;
  fields: URLSearchParams;
}

/**
 * The page's only `<form method="post">` as an approval: action resolved against `pageUrl`, its
 * hidden inputs plus `decision=approve`. Undefined when the page has zero or several POST forms.
 */
export function singlePostForm(html: string, pageUrl: URL): ParsedForm | undefined {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)(?:<\/form\s*>|$)/gi)].filter(
    (match) => (attributes(match[1] ?? "").get("method") ?? "get").toLowerCase() === "post",
  );
  if (forms.length !== 1) return undefined;
  const [, formAttributes = "", inner = ""] = forms[0] ?? [];
  const action = attributes(formAttributes).get("action");
  const fields = new URLSearchParams();
  for (const input of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = attributes(input[1] ?? "");
    const name = attrs.get("name");
    if ((attrs.get("type") ?? "").toLowerCase() === "hidden" && name) fields.append(name, attrs.get("value") ?? "");
  }
  fields.set("decision", "approve");
  return { action: action ? new URL(action, pageUrl) : new URL(pageUrl), fields };
}

/** Attributes of a tag (the text after its name), names lower-cased, values entity-decoded. */
function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of text.matchAll(/([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = (match[1] ?? "").toLowerCase();
    if (!out.has(name)) out.set(name, decodeEntities(match[2] ?? match[3] ?? match[4] ?? ""));
  }
  return out;
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", quot: '"', apos: "'", lt: "<", gt: ">" };

/** Decode &amp; &quot; &apos; &lt; &gt; and numeric (&#39; &#x27;) references; anything else is left as is. */
export function decodeEntities(value: string): string {
  return value.replace(/&(#[xX][0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#")) {
      const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return Number.isInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

/**
 * Waits, as a person reads, until the consent page's form may be decided: the edge refuses an Allow posted sooner than
 * CONSENT_ARMING_MS after the page was made (contract/consent-arming.ts).
 */
async function readForAMoment(fields: URLSearchParams): Promise<void> {
  const shown = Number(fields.get(SHOWN_FIELD));
  if (!Number.isFinite(shown) || shown <= 0) return;
  const wait = shown + CONSENT_ARMING_MS + ARMING_MARGIN_MS - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Past the arming, for the clocks of the page's maker and of this process. */
const ARMING_MARGIN_MS = 50;
