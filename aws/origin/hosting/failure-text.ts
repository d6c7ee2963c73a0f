import { SdkError, SdkErrorCode, SdkHttpError } from "@modelcontextprotocol/client";
import { childLog } from "./child-log.ts";

/**
 * How an upstream's failure is worded wherever it goes: a client's error, a circuit's refusal, the origin's log. An
 * HTTP upstream's error body is never part of it: debug pages and WAFs echo the request they refused, and with it the
 * server's static credentials, the user's identity token and headers, and the tool arguments, which must reach
 * neither the client (the guardrails never see a start failure), nor another user of a shared server, nor the log.
 */

/** Node's codes (sockets, undici) for a connection that could not be made or broke on the way. */
const CONNECTION_FAILURES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * The code of a fetch that found no server or lost it on the way (`fetch failed` when no socket code says more), at
 * any depth of `cause`; undefined for any other failure.
 */
export function connectionFailure(error: unknown): string | undefined {
  let at: unknown = error;
  let fetchFailed = false;
  for (let depth = 0; at instanceof Error && depth < 5; depth++) {
    if (at instanceof TypeError && at.message === "fetch failed") fetchFailed = true;
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_FAILURES.has(code)) return code;
    at = at.cause;
  }
  return fetchFailed ? "fetch failed" : undefined;
}

/** The SDK's failures that say all there is to say by their code. */
const SDK_KINDS: Partial<Record<string, string>> = {
  [SdkErrorCode.RequestTimeout]: "the upstream server did not answer in time",
  [SdkErrorCode.ConnectionClosed]: "the upstream server closed the connection",
  [SdkErrorCode.NotConnected]: "the upstream server is not connected",
  [SdkErrorCode.SendFailed]: "the request could not be sent to the upstream server",
};

/**
 * The SSE transport's (2024-era) refusal, `Error POSTing to endpoint (HTTP 500): <the body>`: a plain Error, known
 * only by its words. Its status is what is kept.
 */
const SSE_POST_REFUSED = /^Error POSTing to endpoint \(HTTP (\d{3})\)/;

/**
 * The SDK's words for a redirect it did not follow, the query and any credentials taken off its URL: they say what to
 * fix (the configured URL), and carry nothing of the request.
 */
const UNFOLLOWED_REDIRECT =
  /: (Redirect (?:to \S+ not followed; use that URL as the endpoint if it is the intended server|from https to plain http not followed; try \S+ as the endpoint|not followed: this runtime does not expose where it points)(?: \(redirectPolicy: '[a-z-]+'\))?)$/;

/** An HTTP failure by its status, and where the upstream redirected to when that is why. */
function httpKind(error: SdkHttpError): string {
  const redirect = error.status >= 300 && error.status < 400 ? UNFOLLOWED_REDIRECT.exec(error.message) : null;
  return `HTTP ${error.status} from the upstream server${redirect ? `: ${redirect[1]}` : ""}`;
}

/**
 * What kind of failure this was, in fixed words and numbers only (nothing an upstream or a user chose): an HTTP
 * status, a timeout, a closed or refused connection. Undefined when the failure is of no kind known here.
 */
export function failureKind(error: unknown): string | undefined {
  if (error instanceof SdkHttpError) return httpKind(error);
  if (error instanceof SdkError && SDK_KINDS[error.code]) return SDK_KINDS[error.code];
  const refused = error instanceof Error ? SSE_POST_REFUSED.exec(error.message) : null;
  if (refused) return `HTTP ${refused[1]} from the upstream server`;
  const connection = connectionFailure(error);
  if (connection) return `the upstream server could not be reached (${connection})`;
  return undefined;
}

/**
 * A failure as a client or the log may be told it: its kind where it has one (an HTTP failure is told by its status,
 * never its body); otherwise its message (the SDK's, the origin's own: they say what to fix), redacted and bounded.
 */
export function failureText(error: unknown): string {
  return failureKind(error) ?? safeText(error instanceof Error ? error.message : String(error));
}

/**
 * The longest failure text kept: enough for the origin's own explanations (a Google refusal names the step, what
 * Google said and the fix with its scopes, some 700 characters), not a page of whatever an upstream answered.
 */
const MAX_CHARS = 2000;
/** The run of credential-like characters a cut may leave at the end: a part of a token is dropped, not shown. */
const TRAILING_TOKEN_PART = /[A-Za-z0-9_+/=.-]+$/;

/**
 * Text that may hold a credential, as it is shown or logged: redacted as a child's stderr is (the secret detector's
 * kinds, `Authorization` and `Bearer` values, values named for a secret; a private key block dropped), on one line,
 * cut at a bound.
 */
export function safeText(text: string): string {
  const lines: string[] = [];
  const redactor = childLog((line) => lines.push(line.trim()));
  redactor.write(text);
  redactor.end();
  const joined = lines.join(" ");
  if (joined.length <= MAX_CHARS) return joined;
  return `${joined.slice(0, MAX_CHARS).replace(TRAILING_TOKEN_PART, "")} … (cut)`;
}
