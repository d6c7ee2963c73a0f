import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { createSecretsManagerProvider } from "../../aws/origin/secrets/aws/secrets-manager-provider.ts";
import { INVALIDATE_INTERVAL_MS } from "../../aws/origin/secrets/bounded-invalidate.ts";
import { asServed } from "../../aws/origin/secrets/select.ts";
import { type FakeSecretsManager, startFakeSecretsManager } from "../aws/secrets-manager-fake.ts";
import { createDualEraEndpoint } from "../fixtures/conformance-upstream/modes/http-dual.ts";
import { type ListeningEndpoint, listenOnLoopback } from "../fixtures/conformance-upstream/serve-http.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// A static upstream credential from Secrets Manager (a server's `headers` naming a secret), rotated after a leak: the
// old value is revoked at the service at once. The provider caches a value for five minutes; the upstream's refusal
// must make the origin read the new version for the next request, not five minutes later, and a server refusing every
// request must not turn each into a Secrets Manager read.

const SECRET_ID = "mcp-edge-proxy/upstream/tickets-token";
const ALICE = { sub: "alice", email: "alice@example.com", groups: [], server: "tickets", clientId: "c", era: "modern" as const };

let fake: FakeSecretsManager;
let upstream: ListeningEndpoint;
/** The one `x-api-key` value the upstream accepts now (the service's side of a rotation). */
let accepted: string;
let pool: HostPool;
let clock: number;

beforeAll(async () => {
  fake = await startFakeSecretsManager();
  upstream = await listenOnLoopback(createDualEraEndpoint(), 0, async (request) =>
    request.headers.get("x-api-key") === accepted ? undefined : new Response("credential revoked", { status: 401 }),
  );
});
afterAll(async () => {
  await upstream?.close();
  await fake?.close();
});

beforeEach(() => {
  clock = 1_000_000;
  accepted = "leaked-value";
  fake.secrets.set(SECRET_ID, { value: "leaked-value", versionId: "v1" });
  const client = new SecretsManagerClient({
    endpoint: fake.endpoint,
    region: "eu-west-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "placeholder-not-a-secret" },
    maxAttempts: 1,
  });
  // As in production: the default five-minute cache, wrapped as the origin's hosts use the provider.
  const backend = createSecretsManagerProvider({ client, secretIdPrefix: "mcp-edge-proxy/upstream/" });
  pool = createHostPool({
    servers: {
      tickets: {
        transport: "http",
        url: upstream.url,
        protocol: "streamable-http",
        identity: "headers",
        headers: { "x-api-key": { secret: "tickets-token" } },
      },
    },
    idleTimeoutMs: 60_000,
    maxProcesses: 2,
    host: {
      ...testHostOptions,
      secrets: asServed(
        backend,
        () => {},
        () => clock,
      ),
    },
    log: () => {},
  });
});
afterEach(async () => {
  await pool.close();
});

const ANSWERED = "Plain text from the conformance upstream.";

/** One tool call through the user's connection: its text, or "refused" with the error the caller got. */
async function call(): Promise<string> {
  const { host, release } = await pool.acquire("tickets", ALICE);
  try {
    const messages = await messagesOf(
      await host.fetch(modernRequest("tools/call", { name: "test_simple_text", arguments: {} }), ALICE),
    );
    const answer = messages.find((m) => m.result || m.error) as
      | { result?: { content?: { text?: string }[] }; error?: { message: string } }
      | undefined;
    return answer?.result?.content?.[0]?.text ?? `refused: ${answer?.error?.message}`;
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  } finally {
    release();
  }
}

const readsOfTheSecret = () => fake.requests.filter((request) => request.secretId === SECRET_ID).length;

describe("an HTTP upstream refusing a static credential from Secrets Manager", () => {
  it("after a rotation and the old value's revocation: the first call is refused, the next uses the new value", async () => {
    expect(await call()).toBe(ANSWERED);
    fake.secrets.set(SECRET_ID, { value: "rotated-value", versionId: "v2" });
    accepted = "rotated-value";

    expect(await call()).toMatch(/^refused: .*401/);
    // Well within the provider's five minutes: only the refusal can have made it read the new version.
    expect(await call()).toBe(ANSWERED);
  });

  it("reads the secret again at most once per ten seconds while the upstream refuses every request", async () => {
    expect(await call()).toBe(ANSWERED);
    accepted = "a value Secrets Manager does not hold";
    const before = readsOfTheSecret();

    for (const _ of [1, 2, 3]) expect(await call()).toMatch(/^refused: /);
    // The first refusal made the second call read it; the refusals after it, within ten seconds, did not.
    expect(readsOfTheSecret()).toBe(before + 1);

    clock += INVALIDATE_INTERVAL_MS;
    expect(await call()).toMatch(/^refused: /);
    expect(await call()).toMatch(/^refused: /);
    expect(readsOfTheSecret()).toBe(before + 2);
  });
});
