import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DIRECTORY_SCOPES } from "../../aws/origin/identity/google/delegated-token.ts";
import { EDGE_ENV_NAMES } from "../../contract/config/env-names.ts";
import { EdgeConfig } from "../../contract/config/schema.ts";

// The Google Workspace setup is done by hand from the docs: what they tell the operator must be what the code needs.

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");
const deploy = doc("deploy.md");
const workspace = doc("google-workspace.md");

describe("the Google Workspace setup in the docs", () => {
  it("delegates every scope the origin asks for", () => {
    for (const text of [deploy, workspace]) for (const scope of DIRECTORY_SCOPES) expect(text).toContain(scope);
  });

  it("gives Token Creator to the service account on itself, never to the pool's principals", () => {
    // signJwt is called with the service account's own token (delegated-token.ts).
    expect(workspace).toMatch(/--role=roles\/iam\.serviceAccountTokenCreator \\\n\s+--member="serviceAccount:\$SA"/);
    for (const text of [deploy, workspace])
      expect(text).not.toMatch(/serviceAccountTokenCreator[^\n]*\\\n[^\n]*--member="principalSet:/);
  });

  it("enables the IAM Credentials API with the others", () => {
    expect(workspace).toMatch(
      /gcloud services enable sts\.googleapis\.com iamcredentials\.googleapis\.com admin\.googleapis\.com/,
    );
    expect(deploy).toContain("enable the STS, IAM Credentials and Admin SDK APIs");
  });

  it("has the edge read groups from the origin, with the variable and value the edge knows", () => {
    const [path] = EDGE_ENV_NAMES.GROUPS_SOURCE;
    expect(path).toBe("groups.source");
    expect(EdgeConfig.shape.groups.unwrap().shape.source.removeDefault().options).toContain("google-directory");
    expect(deploy).toContain('GROUPS_SOURCE = "google-directory"');
    expect(workspace).toContain('GROUPS_SOURCE = "google-directory"');
  });

  it("makes no credential configuration file, which nothing reads", () => {
    expect(deploy).not.toMatch(/create-cred-config[^\n]*--output-file/);
    expect(deploy).not.toContain("google-wif.json");
  });
});
