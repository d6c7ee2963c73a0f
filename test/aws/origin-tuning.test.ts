import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { EXAMPLE_DEPLOY_CONFIG, loadDeployConfig, parseDeployConfig } from "../../aws/cdk/config/load-deploy-config.ts";
import {
  derivedMaxProcesses,
  IMAGE_STDIO_CHILD_UIDS,
  OriginTuning,
  tuningEnvironment,
} from "../../aws/cdk/config/origin-tuning.ts";
import { ORIGIN_ENV_NAMES } from "../../contract/config/env-names.ts";
import { loadConfig } from "../../contract/config/load.ts";
import { OriginConfig } from "../../contract/config/schema.ts";
import { originEnvironmentOf, synthesizeExample } from "./synth.ts";

// `origin.tuning`: the origin's tunables in a CDK deployment, checked by the origin's own rules and handed to the
// task through the origin's own environment variables.

type Tree = Record<string, unknown>;

/** Every tunable, each set to a value other than the origin's default (the first test checks that it is every one). */
const EVERY_TUNABLE = {
  databasePoolMax: 7,
  aggregate: { upstreamTimeoutSeconds: 2.5 },
  stdio: { idleTimeoutSeconds: 120, maxProcesses: 45 },
  relay: {
    requestTimeoutSeconds: 120,
    connectTimeoutSeconds: 45,
    inputWaitSeconds: 900,
    keepAliveSeconds: 20,
    breakerFailures: 3,
    breakerOpenSeconds: 60,
    maxUpstreamMessageMiB: 32,
    listensPerUser: 200,
  },
  upstreamIdentity: { ttlSeconds: 600 },
  upstreamVault: { keyCacheSeconds: 0 },
  audit: { checkpoints: { everyRows: 500, everySeconds: 60 } },
};

const ROOT = new URL("../../", import.meta.url).pathname;
/** The environment the image itself sets (ENV lines of the Dockerfile), which the task's adds to. */
const IMAGE_ENV = Object.fromEntries(
  [...readFileSync(`${ROOT}Dockerfile`, "utf8").matchAll(/\b(STDIO_CHILD_UID_(?:FIRST|COUNT))=(\d+)/g)].map(([, name, value]) => [
    name,
    value,
  ]),
);

const example = () => loadDeployConfig(EXAMPLE_DEPLOY_CONFIG) as unknown as Tree & { origin: Tree };

/** The deployment's problems with `tuning` set (empty when it is accepted). */
function deployProblems(tuning: unknown, change: (origin: Tree) => void = () => {}): string {
  const config = example();
  config.origin.tuning = tuning;
  change(config.origin);
  try {
    parseDeployConfig(config, "deploy.json");
    return "";
  } catch (error) {
    return (error as Error).message;
  }
}

function leaves(tree: Tree, prefix = ""): [string, unknown][] {
  return Object.entries(tree).flatMap(([key, value]) =>
    typeof value === "object" && value !== null ? leaves(value as Tree, `${prefix}${key}.`) : [[`${prefix}${key}`, value]],
  );
}

/** The key paths a schema of nested objects takes. */
function schemaLeaves(schema: z.ZodType, prefix = ""): string[] {
  if (schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional)
    return schemaLeaves(schema.unwrap() as z.ZodType, prefix);
  if (schema instanceof z.ZodObject)
    return Object.entries(schema.shape).flatMap(([key, field]) => schemaLeaves(field as z.ZodType, `${prefix}${key}.`));
  return [prefix.slice(0, -1)];
}

function tree(path: string, value: unknown): Tree {
  return path
    .split(".")
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Tree;
}

/** The synthesized environment as ECS would give it, each import (the database's endpoint, key ARNs) a stand-in. */
const resolved = (environment: Map<string, unknown>) =>
  Object.fromEntries([...environment].map(([name, value]) => [name, typeof value === "string" ? value : `resolved-${name}`]));

describe("origin.tuning", () => {
  it("reaches the task as the origin's own variables, which its configuration loader reads back", () => {
    expect(leaves(EVERY_TUNABLE).map(([path]) => path)).toEqual(schemaLeaves(OriginTuning));
    const environment = originEnvironmentOf(
      synthesizeExample((config) => {
        config.origin.tuning = structuredClone(EVERY_TUNABLE);
      }),
    );
    const origin = loadConfig(OriginConfig, ORIGIN_ENV_NAMES, { env: { ...IMAGE_ENV, ...resolved(environment) } });
    expect(origin).toMatchObject(EVERY_TUNABLE);
    expect(environment.get("STDIO_MAX_PROCESSES")).toBe("45");
  });

  it("overrides nothing the stack sets itself", () => {
    const tuned = Object.keys(tuningEnvironment(structuredClone(EVERY_TUNABLE)));
    expect(tuned).toHaveLength(leaves(EVERY_TUNABLE).length);
    // No per-user stdio server: nothing of the tuning's is set by default either.
    const untuned = originEnvironmentOf(
      synthesizeExample((config) => {
        config.origin.servers = {};
      }),
    );
    expect([...untuned.keys()].filter((name) => tuned.includes(name))).toEqual([]);
    expect(untuned.has("STDIO_MAX_PROCESSES")).toBe(false);
  });

  it("accepts exactly the values the origin accepts, each refused under its own key", () => {
    // On AWS the origin also has the image's child users, which bound stdio.maxProcesses.
    const childUids = { first: Number(IMAGE_ENV.STDIO_CHILD_UID_FIRST), count: Number(IMAGE_ENV.STDIO_CHILD_UID_COUNT) };
    const values = [-1, 0, 0.05, 0.5, 1, 9, 10, 29, 30, 100, 300, 301, 3600, 3601, 10_000, 10_001, 86_400, 86_401, 1_000_001];
    for (const [path] of leaves(EVERY_TUNABLE)) {
      for (const value of values) {
        const set = tree(path, value);
        const originAccepts = OriginConfig.safeParse({
          publicUrl: "https://origin.example.com",
          edgeIssuer: "https://mcp.example.com",
          ...set,
          stdio: { childUids, ...(set.stdio as Tree | undefined) },
        }).success;
        const problems = deployProblems(set);
        expect(problems === "", `${path} = ${value}: ${problems}`).toBe(originAccepts);
        if (!originAccepts) expect(problems).toContain(`deploy.json: origin.tuning.${path}: `);
      }
    }
  });

  it("refuses a key the stack sets itself, saying where it goes instead", () => {
    expect(deployProblems({ port: 9000 })).toContain(
      'origin.tuning: unknown key "port" (the stack sets it itself: docs/deploy.md, "Tuning the origin"); origin.tuning takes only databasePoolMax, aggregate, stdio',
    );
    expect(deployProblems({ audit: { retentionDays: 30 } })).toContain(
      'origin.tuning.audit: unknown key "retentionDays" (set it as origin.auditRetentionDays); origin.tuning.audit takes only checkpoints',
    );
    expect(deployProblems({ stdio: { childUids: { first: 20_000, count: 10 } } })).toContain(
      'origin.tuning.stdio: unknown key "childUids" (the stack sets it itself',
    );
    expect(deployProblems({ audit: { checkpoints: { signer: "local" } } })).toContain(
      'origin.tuning.audit.checkpoints: unknown key "signer"',
    );
  });

  it("refuses a key that is no setting of the origin as not a setting, with the tunable it is a typo of", () => {
    expect(deployProblems({ relay: { requestTimeoutSecond: 5 } })).toContain(
      'origin.tuning.relay: unknown key "requestTimeoutSecond" (not a setting; did you mean requestTimeoutSeconds?); origin.tuning.relay takes only requestTimeoutSeconds,',
    );
    expect(deployProblems({ databasePoolMaximum: 5 })).toContain(
      'origin.tuning: unknown key "databasePoolMaximum" (not a setting); origin.tuning takes only databasePoolMax,',
    );
    expect(deployProblems({ stdio: { maxProcess: 5, children: 2 } })).toContain(
      'origin.tuning.stdio: unknown key "maxProcess" (not a setting; did you mean maxProcesses?), "children" (not a setting); origin.tuning.stdio takes only idleTimeoutSeconds, maxProcesses',
    );
    expect(deployProblems({ relay: { requestTimeoutSecond: 5 } })).not.toContain("the stack sets it itself");
    // The hint stays for the origin's own keys at every depth.
    expect(deployProblems({ audit: { checkpoints: { signer: "local", everyRow: 5 } } })).toContain(
      'unknown key "signer" (the stack sets it itself: docs/deploy.md, "Tuning the origin"), "everyRow" (not a setting; did you mean everyRows?)',
    );
  });

  it("allows no more stdio children than the image has users for, half as many with googleCredentials", () => {
    expect(readFileSync(`${ROOT}Dockerfile`, "utf8")).toContain(`STDIO_CHILD_UID_COUNT=${IMAGE_STDIO_CHILD_UIDS}`);
    expect(deployProblems({ stdio: { maxProcesses: IMAGE_STDIO_CHILD_UIDS } })).toBe("");
    expect(deployProblems({ stdio: { maxProcesses: IMAGE_STDIO_CHILD_UIDS + 1 } })).toContain(
      `origin.tuning.stdio.maxProcesses: expected at most ${IMAGE_STDIO_CHILD_UIDS}: the image has ${IMAGE_STDIO_CHILD_UIDS} Unix users`,
    );
    const withGoogleToken = (origin: Tree) => {
      (origin.servers as Tree).drive = {
        transport: "stdio",
        command: "drive-mcp",
        googleCredentials: { scopes: ["https://www.googleapis.com/auth/drive.readonly"], inject: { env: "GOOGLE_TOKEN" } },
      };
      // Google tokens are made through origin.google's Workload Identity Federation: a deployment needs it.
      origin.google = {
        audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
        serviceAccount: "drive-tokens@project.iam.gserviceaccount.com",
      };
    };
    expect(deployProblems({ stdio: { maxProcesses: IMAGE_STDIO_CHILD_UIDS / 2 } }, withGoogleToken)).toBe("");
    expect(deployProblems({ stdio: { maxProcesses: IMAGE_STDIO_CHILD_UIDS / 2 + 1 } }, withGoogleToken)).toContain(
      "a stdio server with googleCredentials needs two per child",
    );
  });
});

describe("the bound on stdio children by default", () => {
  const stdio = { transport: "stdio" };

  it("is what the task's memory holds, (memoryMiB - 400) / 34, with a per-user stdio server", () => {
    expect(derivedMaxProcesses({ memoryMiB: 2048, servers: { everything: stdio } })).toBe(48);
    expect(derivedMaxProcesses({ memoryMiB: 4096, servers: { everything: stdio } })).toBe(108);
    expect(derivedMaxProcesses({ memoryMiB: 1024, servers: { a: { transport: "http" }, b: stdio } })).toBe(18);
    // At the largest task, still within the image's child users (twice over, for googleCredentials).
    expect(derivedMaxProcesses({ memoryMiB: 30_720, servers: { everything: stdio } })).toBeLessThanOrEqual(
      IMAGE_STDIO_CHILD_UIDS / 2,
    );
  });

  it("is the origin's own without one: HTTP connections and a shared child cost little memory", () => {
    expect(derivedMaxProcesses({ memoryMiB: 2048, servers: {} })).toBeUndefined();
    expect(
      derivedMaxProcesses({ memoryMiB: 2048, servers: { a: { transport: "http" }, b: { ...stdio, sharing: "shared" } } }),
    ).toBeUndefined();
  });

  it("reaches the example's 2 GiB task, whose one server is a per-user stdio server", () => {
    expect(originEnvironmentOf(synthesizeExample()).get("STDIO_MAX_PROCESSES")).toBe("48");
  });

  it("is the figure the docs give for a 2 GiB task", () => {
    const perTask = derivedMaxProcesses({ memoryMiB: 2048, servers: { everything: stdio } });
    const doc = (name: string) => readFileSync(`${ROOT}docs/${name}`, "utf8");
    expect(doc("configuration.md")).toContain(`about ${perTask} per-user children of a Node server fit a 2 GiB task`);
    expect(doc("deploy.md")).toContain(`so ${perTask} for the default 2 GiB`);
    expect(doc("scaling.md")).toContain(`(${perTask} for the default 2 GiB`);
  });
});

describe("origin.google in a deployment", () => {
  const google = {
    audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
    serviceAccount: "groups-reader@project.iam.gserviceaccount.com",
    adminUser: "admin@example.com",
  };

  it("refuses the keys the task cannot be given, rather than dropping them", () => {
    const problems = deployProblems({}, (origin) => {
      origin.google = { ...google, requestTimeoutSeconds: 20, endpoints: { sts: "https://sts.example.com/v1/token" } };
    });
    expect(problems).toContain("origin.google.requestTimeoutSeconds: cannot be set in a CDK deployment");
    expect(problems).toContain("origin.google.endpoints: points the origin at local stand-ins");
  });

  it("passes the cache time on", () => {
    const environment = originEnvironmentOf(
      synthesizeExample((config) => {
        config.origin.google = { ...google, cacheSeconds: 30 } as never;
      }),
    );
    expect(environment.get("GOOGLE_GROUPS_CACHE_SECONDS")).toBe("30");
  });
});
