import { afterEach, describe, expect, it, vi } from "vitest";
import * as secretDetector from "../../aws/origin/guardrails/secret-detector.ts";
import { childLog, REDACTION_MARGIN_CHARS } from "../../aws/origin/hosting/child-log.ts";
import { openTransport, type UpstreamCredentials } from "../../aws/origin/hosting/upstream-transport.ts";
import { UpstreamServer } from "../../contract/config/schema.ts";

// What a stdio child writes to its stderr, as the origin logs it.

// The secret detector as it is, watched: what the child log hands it to read.
vi.mock("../../aws/origin/guardrails/secret-detector.ts", async (original) => {
  const actual = await original<typeof secretDetector>();
  return { ...actual, redactCredentials: vi.fn(actual.redactCredentials) };
});

const logged = (...chunks: string[]) => {
  const lines: string[] = [];
  const log = childLog((line) => lines.push(line));
  for (const chunk of chunks) log.write(chunk);
  log.end();
  return lines;
};

describe("a stdio child's stderr in the origin's log", () => {
  it("hides the credentials servers print there: known kinds, Authorization values, values named for one", () => {
    const lines = logged(
      "starting with GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
      "request failed: Authorization: Bearer opaque-token-value-123 rejected\n",
      "retrying with Bearer eyJhbGciOiJIUzI1NiJ9abcdef\n",
      'config {"apiKey": "k-live-998877", "region": "eu"}\n',
      "DB_PASSWORD=hunter2hunter2 and ordinary text about 3 tokens\n",
    );
    expect(lines).toEqual([
      "starting with GITHUB_TOKEN=[REDACTED GitHub token]",
      "request failed: Authorization: Bearer [REDACTED] rejected",
      "retrying with Bearer [REDACTED]",
      'config {"apiKey": "[REDACTED]", "region": "eu"}',
      "DB_PASSWORD=[REDACTED] and ordinary text about 3 tokens",
    ]);
  });

  it("logs a line once whole, though a chunk ended inside it (and inside a credential)", () => {
    expect(logged("API_TO", "KEN=abcd1234efgh\nnext ", "line\n", "last without newline")).toEqual([
      "API_TOKEN=[REDACTED]",
      "next line",
      "last without newline",
    ]);
  });

  it("cuts a line too long for a log without a part of a token, does not wait for its end, and drops its rest", () => {
    const token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    const lines: string[] = [];
    const log = childLog((line) => lines.push(line));
    // Too long to wait for while the token is still coming: what has come of it is not shown, nor what follows.
    log.write(`${"x ".repeat(990)}lead ${token.slice(0, 30)}`);
    log.write(`${token.slice(30)} still the same line\nnext\n`);
    expect(lines).toEqual([`${"x ".repeat(990)}lead  … (cut at 2000 characters)`, "next"]);
    expect(lines.join("\n")).not.toContain("ghp_");
  });

  // s28 limits hunt L3: the patterns ran over a whole 64 KB line before it was cut (8 s of the origin's event loop).
  it("reads no more of a long line for credentials than it may keep of it, and cuts it as before", () => {
    const read = vi.mocked(secretDetector.redactCredentials);
    read.mockClear();
    const lines = logged(`${"word ".repeat(13_000)}\n`, `${"a.b@c ".repeat(11_000)}`);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`${"word ".repeat(400)} … (cut at 2000 characters)`);
    expect(lines[1]).toMatch(/^(a\.b@c ){300,} … \(cut at 2000 characters\)$/);
    expect(read.mock.calls.map(([text]) => text.length)).toEqual([2000 + REDACTION_MARGIN_CHARS, 2000 + REDACTION_MARGIN_CHARS]);
  });

  it("drops every line of a private key block, not only its first", () => {
    const key = [
      "-----BEGIN PRIVATE KEY-----",
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
      "BKcwggSjAgEAAoIBAQC7",
      "-----END PRIVATE KEY-----",
    ];
    expect(logged(`loading ${key[0]}\n${key.slice(1).join("\n")}\nready\n`)).toEqual(["loading [REDACTED private key]", "ready"]);
  });

  it("hides e-mail addresses and session cookies, which would tie the user's pseudonym to a person (s24 hunt observability F8)", () => {
    const lines = logged(
      "looking up mailbox of jane.doe+work@mail.example.co.uk for sub 1234567890, session cookie sid=abcdef0123456789abcdef\n",
      "Cookie: theme=dark; gh_auth=4f1c9e2b7a\n",
      "sessionId: 77aa88bb99cc\n",
    );
    expect(lines).toEqual([
      "looking up mailbox of [e-mail address] for sub 1234567890, session cookie sid=[REDACTED]",
      "Cookie: [REDACTED]; gh_auth=[REDACTED]",
      "sessionId: [REDACTED]",
    ]);
  });

  it("leaves ordinary words alone", () => {
    const ordinary = [
      "Token refreshed successfully",
      "Processed tokens: 15000",
      "using basic authentication scheme",
      "inside the loop at step 3",
      "package @scope/name@1.2.3 loaded",
    ];
    expect(logged(`${ordinary.join("\n")}\n`)).toEqual(ordinary);
  });
});

describe("a stdio upstream's stderr", () => {
  it("reaches the origin's log through it", async () => {
    const lines: string[] = [];
    const token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    const spec = UpstreamServer.parse({
      transport: "stdio",
      command: "sh",
      args: ["-c", `echo "GITHUB_TOKEN=${token}" >&2; sleep 5`],
    });
    // A stdio child with no secrets and no identity: the rest of the credentials is never read.
    const credentials = { env: {} } as unknown as UpstreamCredentials;
    const { transport } = openTransport(spec, credentials, (line) => lines.push(line));
    await transport.start();
    for (let tries = 0; tries < 100 && lines.length === 0; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    await transport.close();
    expect(lines).toEqual(["GITHUB_TOKEN=[REDACTED GitHub token]"]);
  });
});

describe("a stdio child flooding its stderr", () => {
  afterEach(() => vi.useRealTimers());

  it("has a burst of lines logged, then so many a second, the rest counted in one line per interval", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = childLog((line) => lines.push(line), { perSecond: 10, burst: 50, summaryMs: 10_000 });
    log.write("E flood\n".repeat(100_000));
    expect(lines).toHaveLength(50);
    vi.advanceTimersByTime(1_000);
    log.write("E flood\n".repeat(100));
    expect(lines).toHaveLength(60);
    vi.advanceTimersByTime(9_000);
    expect(lines).toHaveLength(61);
    expect(lines.at(-1)).toBe("… dropped 100,040 stderr lines in the last 10 s (more than 10 a second)");
    // Quiet for a while, the burst is back; nothing dropped, nothing summed up.
    vi.advanceTimersByTime(60_000);
    log.write("after\n");
    log.end();
    expect(lines.slice(61)).toEqual(["after"]);
  });

  it("counts what it dropped at the end of the stream, without waiting for the interval", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = childLog((line) => lines.push(line), { perSecond: 10, burst: 2, summaryMs: 10_000 });
    log.write("a\nb\nc\nd\n");
    log.end();
    expect(lines).toEqual(["a", "b", "… dropped 2 stderr lines in the last 10 s (more than 10 a second)"]);
  });

  it("still drops a private key's lines when its first line was dropped for the budget", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = childLog((line) => lines.push(line), { perSecond: 1, burst: 1, summaryMs: 10_000 });
    log.write("starting\n-----BEGIN PRIVATE KEY-----\n");
    vi.advanceTimersByTime(5_000);
    log.write("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n");
    expect(lines.join("\n")).not.toContain("MIIE");
  });
});
