import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLE_DEPLOY_CONFIG, loadDeployConfig, parseDeployConfig } from "../../aws/cdk/config/load-deploy-config.ts";
import type { ConfigError } from "../../contract/config/load.ts";
import { resourcesOf, synthesizeExample } from "./synth.ts";

/** What parseDeployConfig refuses, one line per problem ("" when it accepts). */
const problemsOf = (config: unknown) => {
  try {
    parseDeployConfig(config, "deploy.json");
    return "";
  } catch (error) {
    return (error as Error).message;
  }
};

const example = () =>
  loadDeployConfig(EXAMPLE_DEPLOY_CONFIG) as unknown as Record<string, unknown> &
    Record<"origin" | "database", Record<string, unknown>>;

describe("deployment configuration", () => {
  it("names every wrong key, where it is and what was expected", () => {
    const config = example();
    config.account = "12345";
    config.origin.edgePublicUrl = "http://mcp.example.com";
    config.origin.minTasks = 1;
    config.database.surprise = true;
    let message = "";
    try {
      parseDeployConfig(config, "deploy.json");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("deploy.json: account: expected a 12-digit AWS account id");
    expect(message).toContain("deploy.json: origin.edgePublicUrl: expected https");
    expect(message).toContain("deploy.json: origin.minTasks: expected a whole number at least 2");
    expect(message).toContain('deploy.json: database: Unrecognized key: "surprise"');
    config.origin.cpu = 3000;
    config.origin.architecture = "risc-v";
    expect(problemsOf(config)).toContain("deploy.json: origin.cpu: expected one of 512, 1024, 2048, 4096\n");
    expect(problemsOf(config)).toContain("deploy.json: origin.architecture: expected one of x86_64, arm64\n");
  });

  it("refuses a policy naming a server that is not deployed", () => {
    const config = example();
    config.origin.policy = { rules: [{ effect: "allow", who: { everyone: true }, servers: ["nowhere"] }] };
    expect(() => parseDeployConfig(config, "deploy.json")).toThrow(
      /origin\.policy\.rules\.0\.servers\.0: "nowhere" matches no configured server/,
    );
  });

  it("refuses a server naming a secret that origin.upstreamSecrets does not create, wherever it names it", () => {
    const config = example();
    config.origin.upstreamSecrets = ["github-token"];
    config.origin.servers = {
      tickets: {
        transport: "http",
        url: "https://tickets.internal.example/mcp",
        headers: { "x-api-key": { secret: "tickets-key" } },
      },
      github: {
        transport: "stdio",
        command: "github-mcp",
        env: { GITHUB_TOKEN: { secret: "github-token" } },
      },
      // A variable named "secret" holding a plain value is no reference.
      plain: { transport: "stdio", command: "plain-mcp", env: { secret: "not-a-reference" } },
      crm: {
        transport: "http",
        url: "https://crm.example.com/mcp",
        identity: "none",
        oauth: { registration: "static", clientId: "gateway", clientSecret: { secret: "CRM_CLIENT_SECRET" } },
      },
    };
    let message = "";
    try {
      parseDeployConfig(config, "deploy.json");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(
      'deploy.json: origin.servers.tickets.headers.x-api-key: names the secret "tickets-key", which origin.upstreamSecrets does not create',
    );
    expect(message).toContain('origin.servers.crm.oauth.clientSecret: names the secret "CRM_CLIENT_SECRET"');
    expect(message).not.toContain("github-token");
    expect(message).not.toContain("not-a-reference");
    config.origin.upstreamSecrets = ["github-token", "tickets-key", "crm-client-secret"];
    (config.origin.servers as { crm: { oauth: { clientSecret: unknown } } }).crm.oauth.clientSecret = {
      secret: "crm-client-secret",
    };
    // Still refused, as a plain value under a credential's name (the "literal credential" cases below).
    expect(problemsOf(config).split("\n").slice(1)).toEqual([expect.stringContaining("origin.servers.plain.env.secret: ")]);
    delete (config.origin.servers as Record<string, unknown>).plain;
    expect(() => parseDeployConfig(config, "deploy.json")).not.toThrow();
  });

  describe("refuses a credential written as a plain value, which would sit in the task definition (MCP_SERVERS)", () => {
    const LITERAL = "sk-live-LITERAL-SECRET-123";
    const withServer = (server: Record<string, unknown>) => {
      const config = example();
      config.origin.upstreamSecrets = ["TICKETS_API_KEY"];
      config.origin.servers = { tickets: server };
      return config;
    };
    const http = (more: Record<string, unknown>) =>
      withServer({ transport: "http", url: "https://tickets.internal.example/mcp", identity: "none", ...more });
    const stdio = (env: Record<string, unknown>) => withServer({ transport: "stdio", command: "tickets-mcp", env });
    const HOW = 'write { "secret": "NAME" } instead, add NAME to origin.upstreamSecrets';

    it.each([
      [
        "authorization",
        "headers.authorization",
        'header "authorization"',
        http({ headers: { authorization: `Bearer ${LITERAL}` } }),
      ],
      ["cookie", "headers.Cookie", 'header "Cookie"', http({ headers: { Cookie: `session=${LITERAL}` } })],
      ["an API key header", "headers.x-api-key", 'header "x-api-key"', http({ headers: { "x-api-key": LITERAL } })],
      ["a token header", "headers.X-Auth-Token", 'header "X-Auth-Token"', http({ headers: { "X-Auth-Token": LITERAL } })],
      [
        "an OAuth client secret",
        "oauth.clientSecret",
        "OAuth client secret",
        http({ oauth: { registration: "static", clientId: "gateway", clientSecret: LITERAL } }),
      ],
      ["a token variable", "env.GITHUB_TOKEN", 'variable "GITHUB_TOKEN"', stdio({ GITHUB_TOKEN: LITERAL })],
      ["a password variable", "env.db_password", 'variable "db_password"', stdio({ db_password: LITERAL })],
      ["an API key variable", "env.OPENAI_API_KEY", 'variable "OPENAI_API_KEY"', stdio({ OPENAI_API_KEY: LITERAL })],
      ["a *_KEY variable", "env.DD_APP_KEY", 'variable "DD_APP_KEY"', stdio({ DD_APP_KEY: LITERAL })],
      [
        "a *-Key header",
        "headers.Ocp-Apim-Subscription-Key",
        'header "Ocp-Apim-Subscription-Key"',
        http({ headers: { "Ocp-Apim-Subscription-Key": LITERAL } }),
      ],
      [
        "a token-shaped value under a harmless name",
        "env.CONFIG",
        'variable "CONFIG", which looks like a credential,',
        stdio({ CONFIG: `ghp_${"a".repeat(36)}` }),
      ],
      [
        "a token-shaped argument",
        "args.1",
        "argument 2, which looks like a credential,",
        withServer({ transport: "stdio", command: "tickets-mcp", args: ["--token", `AKIA${"A".repeat(16)}`] }),
      ],
      [
        "a token-shaped URL",
        "url",
        "URL, which looks like a credential,",
        withServer({
          transport: "http",
          url: `https://tickets.internal.example/mcp?key=ghp_${"b".repeat(36)}`,
          identity: "none",
        }),
      ],
    ])("%s", (_, key, what, config) => {
      const message = problemsOf(config);
      expect(message).toBe(
        `invalid configuration:\n  - deploy.json: origin.servers.tickets.${key}: server "tickets" has its ${what} as a plain value, which the deployment would write into the task definition and the CloudFormation template (MCP_SERVERS): ${HOW} and put the value in Secrets Manager (docs/deploy.md#3-secrets)`,
      );
      expect(message).not.toContain(LITERAL);
    });

    it("passes the same keys as secret references, and plain values whose names are no credential's", () => {
      const ref = { secret: "TICKETS_API_KEY" };
      const harmless = [
        http({ headers: { authorization: ref, Cookie: ref, "x-api-key": ref, accept: "application/json", "x-tenant": "acme" } }),
        http({ oauth: { registration: "static", clientId: "gateway", clientSecret: ref } }),
        http({ oauth: { registration: "static", clientId: "public-client" } }),
        stdio({ GITHUB_TOKEN: ref, LOG_LEVEL: "debug", DOCS_API_BASE: "https://docs.example.com", TOKEN_TTL_SECONDS: "60" }),
      ];
      for (const config of harmless) expect(problemsOf(config), JSON.stringify(config.origin.servers)).toBe("");
    });

    it("accepts the servers examples of docs/configuration.md and docs/guardrails.md as written", () => {
      const blocks = ["configuration.md", "guardrails.md"].flatMap((doc) =>
        [
          ...readFileSync(new URL(`../../docs/${doc}`, import.meta.url), "utf8").matchAll(
            /```json\n("servers": \{[\s\S]*?\n\})\n```/g,
          ),
        ].map((match) => JSON.parse(`{${match[1]}}`).servers as Record<string, unknown>),
      );
      expect(blocks).toHaveLength(4);
      const config = example();
      config.origin.servers = Object.assign({}, ...blocks);
      config.origin.upstreamSecrets = ["TICKETS_API_KEY"];
      config.origin.google = {
        audience: "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
        serviceAccount: "a@p.iam.gserviceaccount.com",
      };
      expect(problemsOf(config)).toBe("");
    });

    it("refuses it when cdk synth reads the file, naming every one", () => {
      const directory = mkdtempSync(join(tmpdir(), "deploy-config-"));
      const file = join(directory, "deploy.json");
      const config = stdio({ GITHUB_TOKEN: LITERAL, LOG_LEVEL: "info" });
      config.origin.servers = {
        ...(config.origin.servers as object),
        tickets2: {
          transport: "http",
          url: "https://t.internal.example/mcp",
          identity: "none",
          headers: { "x-api-key": LITERAL },
        },
      };
      writeFileSync(file, JSON.stringify(config, null, 2));
      let problems: string[] = [];
      try {
        loadDeployConfig(file);
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems.map((problem) => problem.split(": ", 2)[1])).toEqual([
        "origin.servers.tickets.env.GITHUB_TOKEN",
        "origin.servers.tickets2.headers.x-api-key",
      ]);
      expect(problems.join("\n")).not.toContain(LITERAL);
    });
  });

  it("takes a secret's name as servers give it, the one a local run reads from its environment (GITHUB_TOKEN)", () => {
    const config = example();
    config.origin.upstreamSecrets = ["GITHUB_TOKEN", "tickets-api_key"];
    config.origin.servers = {
      github: { transport: "stdio", command: "github-mcp", env: { GITHUB_TOKEN: { secret: "GITHUB_TOKEN" } } },
    };
    expect(() => parseDeployConfig(config, "deploy.json")).not.toThrow();
    for (const bad of ["GITHUB TOKEN", "token/../other", "", "x".repeat(65)]) {
      config.origin.upstreamSecrets = [bad];
      expect(() => parseDeployConfig(config, "deploy.json"), JSON.stringify(bad)).toThrow(
        /origin\.upstreamSecrets\.0: expected 1-64 letters/,
      );
    }
  });

  it("refuses servers the origin would refuse at start: a guardrail it does not know, two sharing an identity audience", () => {
    const config = example();
    config.origin.servers = {
      everything: { transport: "stdio", command: "npx", guardrails: [{ hook: "deny-pattern", patterns: ["rm -rf"] }] },
      filtered: { transport: "stdio", command: "filtered-mcp", guardrails: [{ hook: "deny-patterns", patterns: "rm -rf" }] },
      a: { transport: "http", url: "https://a.internal.example/mcp", audience: "shared" },
      b: { transport: "http", url: "https://b.internal.example/mcp", audience: "shared" },
    };
    const message = problemsOf(config);
    expect(message).toContain(
      'deploy.json: origin.servers.everything.guardrails.0.hook: expected one of secret-detector, deny-patterns; got "deny-pattern"',
    );
    expect(message).toContain("deploy.json: origin.servers.filtered.guardrails.0.patterns: ");
    expect(message).toContain(
      'deploy.json: origin.servers.b.audience: expected an identity audience of its own: server "a" has "shared" too',
    );
    expect(message).not.toContain("origin.servers.a.");
    config.origin.servers = {
      everything: { transport: "stdio", command: "npx", guardrails: [{ hook: "deny-patterns", patterns: ["rm -rf"] }] },
      a: { transport: "http", url: "https://a.internal.example/mcp", audience: "a" },
      b: { transport: "http", url: "https://b.internal.example/mcp", audience: "b" },
    };
    expect(problemsOf(config)).toBe("");
  });

  it("refuses a credential named as one of the origin's own settings, which a local run never hands to an upstream", () => {
    const config = example();
    config.origin.upstreamSecrets = ["DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "postgres-url"];
    config.origin.servers = {
      postgres: { transport: "stdio", command: "postgres-mcp", env: { DATABASE_URL: { secret: "DATABASE_URL" } } },
      s3: { transport: "stdio", command: "s3-mcp", env: { AWS_SECRET_ACCESS_KEY: { secret: "AWS_SECRET_ACCESS_KEY" } } },
      tickets: {
        transport: "http",
        url: "https://tickets.example.com/mcp",
        identity: "none",
        headers: { authorization: { secret: "EDGE_SIGNING_KEY" } },
      },
    };
    const message = problemsOf(config);
    expect(message).toContain(
      'deploy.json: origin.upstreamSecrets.0: "DATABASE_URL" is a name the origin keeps for its own settings',
    );
    expect(message).toContain('deploy.json: origin.upstreamSecrets.1: "AWS_SECRET_ACCESS_KEY" is a name the origin keeps');
    expect(message).toContain(
      'deploy.json: origin.servers.postgres.env.DATABASE_URL: names the secret "DATABASE_URL", which is a name the origin keeps for its own settings',
    );
    expect(message).toContain(
      'origin.servers.s3.env.AWS_SECRET_ACCESS_KEY: names the secret "AWS_SECRET_ACCESS_KEY", which is a name',
    );
    // Not "add it to origin.upstreamSecrets", which would be refused there.
    expect(message).toContain(
      'origin.servers.tickets.headers.authorization: names the secret "EDGE_SIGNING_KEY", which is a name',
    );
    expect(message).not.toContain('add "EDGE_SIGNING_KEY" there');
    expect(message).not.toContain("postgres-url");
    // The variable the child is given may keep its name: only the credential's own name matters.
    config.origin.upstreamSecrets = ["postgres-url"];
    config.origin.servers = {
      postgres: { transport: "stdio", command: "postgres-mcp", env: { DATABASE_URL: { secret: "postgres-url" } } },
    };
    expect(problemsOf(config)).toBe("");
  });

  it("reads the file as the origin reads its own: a key written twice is refused, and a syntax error names a line, never the text", () => {
    const directory = mkdtempSync(join(tmpdir(), "deploy-config-"));
    const file = join(directory, "deploy.json");
    const servers = [
      '"everything": { "transport": "stdio", "command": "uvx" },',
      '"everything": { "transport": "stdio", "command": "npx" }',
    ];
    const example = readFileSync(EXAMPLE_DEPLOY_CONFIG, "utf8");
    writeFileSync(file, example.replace(/"servers": \{[^}]*\}\s*\}/, `"servers": {\n${servers.join("\n")}\n}`));
    const lines = readFileSync(file, "utf8").split("\n");
    const first = lines.findIndex((line) => line.includes('"uvx"')) + 1;
    expect(() => loadDeployConfig(file)).toThrow(
      `${file}: "origin.servers.everything" is there 2 times (lines ${first}, ${first + 1}); keep one`,
    );
    writeFileSync(file, '{\n  "account": "111111111111",\n  "token": "s3cr3t-value" oops\n}\n');
    let problems: string[] = [];
    try {
      loadDeployConfig(file);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([`${file}: not valid JSON at line 3`]);
  });

  it("gives the tasks the policy and the Google Workspace settings", () => {
    const policy = { rules: [{ effect: "allow", who: { domains: ["example.com"] }, servers: ["*"] }] };
    const { serviceTemplate } = synthesizeExample((config) => {
      config.origin.policy = policy as never;
      config.origin.google = {
        audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
        serviceAccount: "groups-reader@project.iam.gserviceaccount.com",
        adminUser: "admin@example.com",
        checkAccounts: true,
      } as never;
    });
    const variables = new Map(
      resourcesOf(serviceTemplate, "AWS::ECS::TaskDefinition")
        .flatMap(([, task]) => task.ContainerDefinitions as { Name: string; Environment?: { Name: string; Value: unknown }[] }[])
        .filter((container) => container.Name === "origin")
        .flatMap((container) => container.Environment ?? [])
        .map((variable) => [variable.Name, variable.Value]),
    );
    expect(JSON.parse(String(variables.get("MCP_POLICY"))).rules[0].who.domains).toEqual(["example.com"]);
    expect(variables.get("GOOGLE_SERVICE_ACCOUNT")).toBe("groups-reader@project.iam.gserviceaccount.com");
    expect(variables.get("GOOGLE_ADMIN_USER")).toBe("admin@example.com");
    expect(variables.has("GOOGLE_AWS_REGION")).toBe(true);
    expect(variables.get("GOOGLE_CHECK_ACCOUNTS")).toBe("true");
    // The google key's comment lists what the tasks get.
    const source = readFileSync(new URL("../../aws/cdk/config/deploy-config.ts", import.meta.url), "utf8");
    const comment = source.slice(
      source.lastIndexOf("/**", source.indexOf("  google: Google,")),
      source.indexOf("  google: Google,"),
    );
    const google = [...variables.keys()].filter((name) => name.startsWith("GOOGLE_"));
    expect(google.filter((name) => !comment.includes(name))).toEqual([]);
  });

  it("refuses a server with googleCredentials without origin.google, which the origin would refuse at start", () => {
    const config = example();
    delete config.origin.google;
    config.origin.servers = {
      drive: {
        transport: "stdio",
        command: "drive-mcp",
        googleCredentials: { scopes: ["https://www.googleapis.com/auth/drive.readonly"], inject: { env: "GOOGLE_TOKEN" } },
      },
      docs: { transport: "stdio", command: "docs-mcp" },
    };
    let message = "";
    try {
      parseDeployConfig(config, "deploy.json");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(
      'deploy.json: origin.servers.drive.googleCredentials: server "drive" has googleCredentials, whose tokens the origin makes through Workload Identity Federation and the service account of origin.google: set origin.google (docs/google-workspace.md)',
    );
    expect(message).not.toContain("origin.servers.docs");
    config.origin.google = {
      audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
      serviceAccount: "drive-tokens@project.iam.gserviceaccount.com",
    };
    expect(parseDeployConfig(config, "deploy.json").origin.servers.drive?.googleCredentials?.scopes).toEqual([
      "https://www.googleapis.com/auth/drive.readonly",
    ]);
  });

  it("refuses a task size Fargate does not offer", () => {
    const config = example();
    config.origin.cpu = 4096;
    config.origin.memoryMiB = 2048;
    expect(() => parseDeployConfig(config, "deploy.json")).toThrow(/origin\.memoryMiB: expected a memory size Fargate offers/);
  });

  it("refuses availability zones the ALB and RDS could not span: one zone, or one named twice", () => {
    /** The lines parseDeployConfig refuses these zones with (none when it accepts them). */
    const withZones = (zones: string[]) => {
      const config = example();
      config.network = { availabilityZones: zones };
      try {
        parseDeployConfig(config, "deploy.json");
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    // Synth would pass on either, and the deployment fail part-way, at the database's subnet group.
    expect(withZones(["eu-west-1a"])).toEqual([
      "deploy.json: network.availabilityZones: expected at least two zones: the ALB and RDS Multi-AZ need subnets in two",
    ]);
    expect(withZones(["eu-west-1a", "eu-west-1a"])).toEqual([
      "deploy.json: network.availabilityZones: expected distinct zones: one is named twice",
    ]);
    expect(withZones(["eu-west-1a", "eu-west-1c"])).toEqual([]);
  });

  it("refuses a rotation schedule whose two-hour window would cross midnight, or both ways of scheduling rotation", () => {
    const config = example();
    config.database.credentialRotationSchedule = "cron(0 23 ? * SUN#1 *)";
    expect(problemsOf(config)).toContain("deploy.json: database.credentialRotationSchedule: expected cron(<minute> <hour 0-21>");
    config.database.credentialRotationSchedule = "rate(30 days)";
    expect(problemsOf(config)).toContain("deploy.json: database.credentialRotationSchedule: expected cron(");
    config.database.credentialRotationSchedule = "cron(30 2 ? * SAT *)";
    expect(problemsOf(config)).toBe("");
    config.database.credentialRotationDays = 30;
    expect(problemsOf(config)).toContain(
      "deploy.json: database.credentialRotationDays: expected credentialRotationDays or credentialRotationSchedule, not both",
    );
    delete config.database.credentialRotationSchedule;
    expect(problemsOf(config)).toBe("");
  });

  it("says how to start when the file is missing", () => {
    expect(() => loadDeployConfig("/nonexistent/deploy.json")).toThrow(
      /file not found; copy aws\/cdk\/deploy\.config\.example\.json/,
    );
  });

  it("asks for the Cloudflare queue settings all together", () => {
    const config = example();
    config.cloudflare = { accountId: "0".repeat(32) };
    expect(() => parseDeployConfig(config, "deploy.json")).toThrow(
      /cloudflare: expected accountId, auditQueueId and deadLetterQueueId together/,
    );
  });

  it("imports an existing certificate, and manages DNS in Route 53 when given a zone", () => {
    const { serviceTemplate } = synthesizeExample((config) => {
      config.origin.certificateArn = "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000";
      config.origin.route53Zone = { hostedZoneId: "Z0000000000000000000", zoneName: "mcp.example.com" };
    });
    serviceTemplate.resourceCountIs("AWS::CertificateManager::Certificate", 0);
    serviceTemplate.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Certificates: [{ CertificateArn: "arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000" }],
    });
    serviceTemplate.hasResourceProperties("AWS::Route53::RecordSet", { Name: "origin.mcp.example.com.", Type: "A" });
  });

  it("leaves out the Cloudflare queue reader when its settings are absent", () => {
    const { serviceTemplate } = synthesizeExample((config) => {
      config.cloudflare = {};
    });
    serviceTemplate.resourceCountIs("AWS::Lambda::Function", 0); // the queue reader was the service stack's only one
    serviceTemplate.resourceCountIs("AWS::CloudWatch::Alarm", 8); // all but the two about the queues
  });
});
