import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createSecretsManagerProvider,
  secretsManagerProviderFromEnvironment,
} from "../../aws/origin/secrets/aws/secrets-manager-provider.ts";
import { type FakeSecretsManager, startFakeSecretsManager } from "./secrets-manager-fake.ts";

const PREFIX = "mcp-edge-proxy/upstream/";

describe("AWS Secrets Manager provider (against a local server speaking the Secrets Manager protocol)", () => {
  let fake: FakeSecretsManager;
  let clock: number;
  const client = () =>
    new SecretsManagerClient({
      endpoint: fake.endpoint,
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "placeholder-not-a-secret" },
      // One attempt, so an outage is seen at once instead of after the SDK's back-off.
      maxAttempts: 1,
    });
  const provider = () =>
    createSecretsManagerProvider({ client: client(), secretIdPrefix: PREFIX, refreshAfterMs: 60_000, now: () => clock });

  beforeAll(async () => {
    fake = await startFakeSecretsManager();
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    clock = 1_000_000;
    fake.requests.length = 0;
    fake.failing = false;
    fake.secrets.clear();
    fake.secrets.set(`${PREFIX}github-token`, { value: "first-value", versionId: "v1" });
  });

  it("reads a secret by its prefixed id, with a signed request", async () => {
    expect(await provider().get("github-token")).toBe("first-value");
    expect(fake.requests).toEqual([{ secretId: `${PREFIX}github-token`, signed: true }]);
  });

  it("serves later reads from the cache until the refresh time", async () => {
    const secrets = provider();
    await secrets.get("github-token");
    clock += 59_000;
    expect(await secrets.get("github-token")).toBe("first-value");
    expect(fake.requests).toHaveLength(1);
  });

  it("picks up a rotated value after the refresh time, without a new provider", async () => {
    const secrets = provider();
    await secrets.get("github-token");
    fake.secrets.set(`${PREFIX}github-token`, { value: "rotated-value", versionId: "v2" });
    clock += 61_000;
    expect(await secrets.get("github-token")).toBe("rotated-value");
  });

  it("asks again at once after invalidate", async () => {
    const secrets = provider();
    await secrets.get("github-token");
    fake.secrets.set(`${PREFIX}github-token`, { value: "rotated-value", versionId: "v2" });
    secrets.invalidate("github-token");
    expect(await secrets.get("github-token")).toBe("rotated-value");
  });

  it("shares one request between simultaneous reads of a name", async () => {
    const secrets = provider();
    const values = await Promise.all(Array.from({ length: 5 }, () => secrets.get("github-token")));
    expect(values).toEqual(Array(5).fill("first-value"));
    expect(fake.requests).toHaveLength(1);
  });

  it("keeps serving the cached value while Secrets Manager fails, and recovers after", async () => {
    const secrets = provider();
    await secrets.get("github-token");
    fake.failing = true;
    clock += 61_000;
    expect(await secrets.get("github-token")).toBe("first-value");
    fake.failing = false;
    fake.secrets.set(`${PREFIX}github-token`, { value: "rotated-value", versionId: "v2" });
    expect(await secrets.get("github-token")).toBe("rotated-value");
  });

  it("refuses a missing secret with a message naming it and the fix, and never a value", async () => {
    const failure = provider().get("not-there");
    await expect(failure).rejects.toThrow(/secret "not-there" \(Secrets Manager id mcp-edge-proxy\/upstream\/not-there\)/);
    await expect(failure).rejects.toThrow(/ResourceNotFoundException.*create it/);
  });

  it("takes the secret id prefix the CDK stack sets in the task's environment", async () => {
    const secrets = secretsManagerProviderFromEnvironment({ UPSTREAM_SECRETS_PREFIX: PREFIX }, { client: client() });
    expect(await secrets.get("github-token")).toBe("first-value");
    expect(fake.requests.map((request) => request.secretId)).toEqual([`${PREFIX}github-token`]);
  });

  it("does not cache a failure: the next read asks again", async () => {
    const secrets = provider();
    await expect(secrets.get("late")).rejects.toThrow(/could not be read/);
    fake.secrets.set(`${PREFIX}late`, { value: "now-there", versionId: "v1" });
    expect(await secrets.get("late")).toBe("now-there");
  });
});
