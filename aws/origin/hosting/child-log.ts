import { redactCredentials } from "../guardrails/secret-detector.ts";

/** The longest line kept of what a child writes to stderr: a server that dumps a document there floods no log. */
const MAX_LINE_CHARS = 2000;

/**
 * Credentials a log line may carry beyond the kinds the secret detector knows: an `Authorization` value, and the value
 * of a variable or option named for one (`GITHUB_TOKEN=…`, `"apiKey": "…"`, `--password …` is not caught). Each
 * starts at a fixed word, so a line is read once.
 */
const AUTHORIZATION = /\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const NAMED_VALUE =
  /(token|secret|password|passwd|api[_-]?key|credentials?)([\w-]*["']?\s*[=:]\s*["']?)(?!\[REDACTED)[^\s"',;&]{4,}/gi;

/**
 * The origin's log of what a stdio child writes to its stderr, line by line: servers print their configuration and
 * failed requests there, credentials included, and the log is read by more people than the server's own user. A line
 * is logged once whole (a chunk may end inside one, and inside a credential), or once it is too long to wait for.
 */
export function childLog(log: (line: string) => void): { write(chunk: string): void; end(): void } {
  let pending = "";
  const emit = (line: string) => {
    if (line.trim()) log(redacted(line));
  };
  return {
    write(chunk) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) emit(line);
      if (pending.length > MAX_LINE_CHARS) {
        emit(pending);
        pending = "";
      }
    },
    end() {
      emit(pending);
      pending = "";
    },
  };
}

function redacted(line: string): string {
  const cut = line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)} … (${line.length} characters)` : line;
  return redactCredentials(cut).replace(AUTHORIZATION, "$1$2[REDACTED]").replace(NAMED_VALUE, "$1$2[REDACTED]");
}
