import { PRIVATE_KEY_LINES, redactCredentials } from "../guardrails/secret-detector.ts";

/** The longest line kept of what a child writes to stderr: a server that dumps a document there floods no log. */
const MAX_LINE_CHARS = 2000;

/**
 * Credentials a log line may carry beyond the kinds the secret detector knows: an `Authorization` value, a `Bearer`
 * or `Basic` credential, and the value of a variable or option named for one (`GITHUB_TOKEN=…`, `"apiKey": "…"`).
 * Each starts at a fixed word, so a line is read once; ordinary words ("Token refreshed", "tokens: 15000") are left.
 */
const AUTHORIZATION_VALUE = /(\bauthorization["']?\s*[:=]\s*["']?(?:[A-Za-z]+\s+)?)[^\s"',;]{4,}/gi;
const SCHEME_CREDENTIAL = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{16,}/g;
const NAMED_VALUE = /(token|secret|password|passwd|api[_-]?key|credentials?)(["']?\s*[=:]\s*["']?)(?!\[REDACTED)[^\s"',;&]{4,}/gi;
/** The run of credential-like characters a cut may leave at a line's end: a part of a token is dropped, not shown. */
const TRAILING_TOKEN_PART = /[A-Za-z0-9_+/=.-]+$/;

/**
 * The origin's log of what a stdio child writes to its stderr, line by line: servers print their configuration and
 * failed requests there, credentials included, and the log is read by more people than the server's own user. A line
 * is logged once whole (a chunk may end inside one, and inside a credential), or cut once it is too long to wait for
 * (the rest of it is dropped). The lines of a private key block are dropped after its first is redacted.
 */
export function childLog(log: (line: string) => void): { write(chunk: string): void; end(): void } {
  let pending = "";
  let dropRestOfLine = false;
  let inKey = false;
  const emit = (line: string, cut: boolean) => {
    if (inKey) {
      inKey = !PRIVATE_KEY_LINES.end.test(line);
      return;
    }
    if (PRIVATE_KEY_LINES.begin.test(line) && !PRIVATE_KEY_LINES.end.test(line)) inKey = true;
    if (line.trim()) log(redacted(line, cut));
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
    },
  };
}

/** A line as logged: credentials redacted on the whole of it first, then cut (without a part of a token). */
function redacted(line: string, unfinished: boolean): string {
  const text = redactCredentials(line)
    .replace(AUTHORIZATION_VALUE, "$1[REDACTED]")
    .replace(SCHEME_CREDENTIAL, "$1$2[REDACTED]")
    .replace(NAMED_VALUE, "$1$2[REDACTED]");
  if (!unfinished && text.length <= MAX_LINE_CHARS) return text;
  return `${text.slice(0, MAX_LINE_CHARS).replace(TRAILING_TOKEN_PART, "")} … (cut at ${MAX_LINE_CHARS} characters)`;
}
