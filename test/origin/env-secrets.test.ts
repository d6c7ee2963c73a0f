import { describe, expect, it } from "vitest";
import { createEnvSecretsProvider } from "../../aws/origin/secrets/env/env-secrets.ts";

describe("the environment secrets provider", () => {
  const env = { TICKETS_API_KEY: "placeholder-value", EDGE_ASSERTION_SHARED_KEYS: "{}", PGPASSWORD: "placeholder" };
  const secrets = createEnvSecretsProvider(env);

  it("hands an upstream the variable its configuration names", async () => {
    await expect(secrets.get("TICKETS_API_KEY")).resolves.toBe("placeholder-value");
  });

  it.each([
    "EDGE_ASSERTION_SHARED_KEYS",
    "REQUEST_STATE_KEY",
    "UPSTREAM_IDENTITY_SIGNING_KEY",
    "DATABASE_URL",
    "PGPASSWORD",
    "PGPASSFILE",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "ECS_CONTAINER_METADATA_URI_V4",
    "UPSTREAM_SECRETS_PREFIX",
    "MCP_PROXY_CONFIG",
    "LOCAL_EDGE_KEY",
    "DATABASE_APP_PASSWORD",
    "IDP_CLIENT_SECRET",
    "EDGE_SIGNING_KEY",
  ])("never hands out the origin's own setting %s, set or not", async (name) => {
    await expect(secrets.get(name)).rejects.toThrow(`"${name}" is a setting of the origin itself, not an upstream credential`);
  });

  it("says which variable is missing", async () => {
    await expect(secrets.get("MISSING_KEY")).rejects.toThrow(`secret "MISSING_KEY" is not set in the origin's environment`);
  });
});
