import { PRIVATE_KEY_LINES, redactCredentials } from "../guardrails/secret-detector.ts";

/** The longest line kept of what a child writes to stderr: a server that dumps a document there floods no log. */
const MAX_LINE_CHARS = 2000;
/**
 * How much of a line past `MAX_LINE_CHARS` is read for credentials before the line is cut: enough for a credential that
 * begins before the cut to still be recognised whole (the longest kinds, a JWT or a PEM line, are shorter). The rest is
 * never read: the patterns' cost grows with what they read, and a child's line can be as long as it likes (s28 limits
 * hunt L3: a 64 KB line held the origin's event loop for 8 s, every user's calls and its health checks waiting).
 */
export const REDACTION_MARGIN_CHARS = 1024;

/**
 * Credentials a log line may carry beyond the kinds the secret detector knows: an `Authorization` value, a `Bearer`
 * or `Basic` credential, and the value of a variable or option named for one (`GITHUB_TOKEN=…`, `"apiKey": "…"`).
 * Each starts at a fixed word, so a line is read once; ordinary words ("Token refreshed", "tokens: 15000") are left.
 */
const AUTHORIZATION_VALUE = /(\bauthorization["']?\s*[:=]\s*["']?(?:[A-Za-z]+\s+)?)[^\s"',;]{4,}/gi;
const SCHEME_CREDENTIAL = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{16,}/g;
const NAMED_VALUE =
  /(token|secret|password|passwd|api[_-]?key|credentials?|cookie|\bsession(?:[_-]?id)?|\bsid)(["']?\s*[=:]\s*["']?)(?!\[REDACTED)[^\s"',;&]{4,}/gi;
/** A `Cookie:` or `Set-Cookie:` line: every value on it, not only the first (`a=1; session=2`). */
const COOKIE_LINE = /(\b(?:set-)?cookie["']?\s*:\s*)(.*)$/gim;
/**
 * E-mail addresses: the line is logged under the user's pseudonym, which an address beside it would undo (a server that
 * logs whose mailbox it opens). s24 hunt observability F8.
 */
const EMAIL_ADDRESS = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/g;
/** The run of credential-like characters a cut may leave at a line's end: a part of a token is dropped, not shown. */
const TRAILING_TOKEN_PART = /[A-Za-z0-9_+/=.-]+$/;

/**
 * How many of a child's stderr lines are logged: a burst, then so many a second. A child printing as fast as it can
 * (a retry loop with a stack trace, a server that logs every byte) would otherwise fill the origin's log, its bill
 * and its event loop, for everyone.
 */
export interface LineBudget {
  perSecond: number;
  burst: number;
  /** How often the lines dropped meanwhile are counted in one line. */
  summaryMs: number;
}

export const DEFAULT_LINE_BUDGET: LineBudget = { perSecond: 100, burst: 1000, summaryMs: 10_000 };

/** A token bucket of lines, and the count of those it refused, logged once per interval (and at the end). */
function lineBudget(budget: LineBudget, log: (line: string) => void) {
  let tokens = budget.burst;
  let refilledAt = Date.now();
  let dropped = 0;
  let summary: ReturnType<typeof setTimeout> | undefined;
  const report = () => {
    clearTimeout(summary);
    summary = undefined;
    if (dropped === 0) return;
    log(
      `… dropped ${dropped.toLocaleString("en-US")} stderr lines in the last ${Math.round(budget.summaryMs / 1000)} s (more than ${budget.perSecond} a second)`,
    );
    dropped = 0;
  };
  return {
    take(): boolean {
      const now = Date.now();
      tokens = Math.min(budget.burst, tokens + ((now - refilledAt) / 1000) * budget.perSecond);
      refilledAt = now;
      if (tokens >= 1) {
        tokens--;
        return true;
      }
      dropped++;
      summary ??= setTimeout(report, budget.summaryMs);
      summary.unref?.();
      return false;
    },
    report,
  };
}

/**
 * The origin's log of what a stdio child writes to its stderr, line by line, within a budget of lines (beyond it
 * lines are dropped and counted): servers print their configuration and
 * failed requests there, credentials included, and the log is read by more people than the server's own user. A line
 * is logged once whole (a chunk may end inside one, and inside a credential), or cut once it is too long to wait for
 * (the rest of it is dropped). The lines of a private key block are dropped after its first is redacted.
 */
export function childLog(
  log: (line: string) => void,
  budget: LineBudget = DEFAULT_LINE_BUDGET,
): { write(chunk: string): void; end(): void } {
  const allowance = lineBudget(budget, log);
  let pending = "";
  let dropRestOfLine = false;
  let inKey = false;
  const emit = (line: string, cut: boolean) => {
    if (inKey) {
      inKey = !PRIVATE_KEY_LINES.end.test(line);
      return;
    }
    if (PRIVATE_KEY_LINES.begin.test(line) && !PRIVATE_KEY_LINES.end.test(line)) inKey = true;
    // Counted before it is redacted: a dropped line costs no more than its split.
    if (line.trim() && allowance.take()) log(redacted(line, cut));
  };
  return {
    write(chunk) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (dropRestOfLine) dropRestOfLine = false;
        else emit(line, false);
      }
      if (!dropRestOfLine && pending.length > MAX_LINE_CHARS) {
        emit(pending, true);
        dropRestOfLine = true;
      }
      if (dropRestOfLine) pending = "";
    },
    end() {
      if (!dropRestOfLine) emit(pending, false);
      pending = "";
      allowance.report();
    },
  };
}

/** A line as logged: credentials redacted on what can be kept of it first, then cut (without a part of a token). */
function redacted(line: string, unfinished: boolean): string {
  const read = line.slice(0, MAX_LINE_CHARS + REDACTION_MARGIN_CHARS);
  const text = redactCredentials(read)
    .replace(AUTHORIZATION_VALUE, "$1[REDACTED]")
    .replace(SCHEME_CREDENTIAL, "$1$2[REDACTED]")
    .replace(COOKIE_LINE, (_line, name: string, cookies: string) => `${name}${cookies.replace(/=[^;\s]+/g, "=[REDACTED]")}`)
    .replace(NAMED_VALUE, "$1$2[REDACTED]")
    .replace(EMAIL_ADDRESS, "[e-mail address]");
  if (!unfinished && text.length <= MAX_LINE_CHARS) return text;
  return `${text.slice(0, MAX_LINE_CHARS).replace(TRAILING_TOKEN_PART, "")} … (cut at ${MAX_LINE_CHARS} characters)`;
}
