import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { Policy } from "../../contract/config/policy.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// Policy at the origin's per-server endpoint, against real stdio upstreams: what a user may not use is neither
// listed nor called, and a refused request starts no process and reaches no upstream.
const callLog = join(mkdtempSync(join(tmpdir(), "policy-")), "calls.log");
const servers = {
  github: catalogServer({
    name: "github",
    callLog,
    tools: [
      { name: "list_repos", annotations: { readOnlyHint: true } },
      { name: "delete_repo", annotations: { destructiveHint: true } },
      { name: "create_issue" },
    ],
    prompts: ["triage"],
    resources: ["github://readme"],
    templateScheme: "repo",
    subscribable: true,
  }),
  secret: catalogServer({ name: "secret", callLog, tools: [{ name: "read_secret", annotations: { readOnlyHint: true } }] }),
  quiet: catalogServer({ name: "quiet", callLog, tools: [{ name: "ping" }], growable: true, quietTools: true }),
};
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { groups: ["engineering"] }, servers: ["*"] },
    { effect: "deny", who: { groups: ["contractors"] }, servers: ["*"], annotations: { destructiveHint: true } },
    { description: "secrets are for the security team", effect: "deny", who: { groups: ["interns"] }, servers: ["secret"] },
    { description: "auditors only list", effect: "allow", who: { groups: ["auditors"] }, servers: ["github"], tools: ["list_*"] },
  ],
});

const assertion = (sub: string, groups: string[], server: string) =>
  ({
    sub,
    email: `${sub}@example.com`,
    groups,
    client_id: "test-client",
    server,
    purpose: "mcp",
    jti: sub,
    exp: 0,
  }) as VerifiedAssertion;

let pool: HostPool;
beforeAll(() => {
  pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 10, host: testHostOptions, log: () => {} });
});
afterAll(() => pool.close());

type Message = {
  result?: Record<string, unknown> & { tools?: { name: string }[]; content?: { text: string }[] };
  error?: { code: number; message: string };
};
const ask = async (server: string, who: VerifiedAssertion, method: string, params: Record<string, unknown> = {}) => {
  const response = await serveMcp(pool, server, who, modernRequest(method, params), policy);
  const messages = (await messagesOf(response)) as Message[];
  return { status: response.status, answer: messages.find((message) => message.result || message.error) as Message };
};
const callsMade = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);

describe("policy at the origin's per-server endpoint", () => {
  it("refuses a user no rule allows on the server, before any process starts", async () => {
    const { status, answer } = await ask("github", assertion("outsider", ["sales"], "github"), "tools/list");
    expect(status).toBe(403);
    expect(answer.error?.code).toBe(-32003);
    expect(answer.error?.message).toBe('refused by policy: no policy rule allows you to use server "github"');
    expect(pool.size()).toBe(0);
  });

  it("refuses a whole-server deny with the rule's reason, also for a direct call", async () => {
    const intern = assertion("intern", ["engineering", "interns"], "secret");
    const { status, answer } = await ask("secret", intern, "tools/call", { name: "read_secret", arguments: {} });
    expect(status).toBe(403);
    expect(answer.error?.message).toContain("secrets are for the security team");
    expect(callsMade()).not.toContain("read_secret");
  });

  it("lists every tool to a user allowed the whole server, and lets them call it", async () => {
    const engineer = assertion("engineer", ["engineering"], "github");
    const { answer } = await ask("github", engineer, "tools/list");
    expect(answer.result?.tools?.map((tool) => tool.name).sort()).toEqual(["create_issue", "delete_repo", "list_repos"]);
    const called = await ask("github", engineer, "tools/call", { name: "delete_repo", arguments: {} });
    expect(called.answer.result?.content?.[0]?.text).toBe("delete_repo on github: {}");
    expect(callsMade()).toContain("delete_repo");
  });

  it("hides destructive tools from a contractor and refuses to call them without reaching the upstream", async () => {
    const contractor = assertion("contractor", ["engineering", "contractors"], "github");
    const { answer } = await ask("github", contractor, "tools/list");
    expect(answer.result?.tools?.map((tool) => tool.name)).toEqual(["list_repos"]);
    const before = callsMade().length;
    for (const name of ["delete_repo", "create_issue"]) {
      const refused = await ask("github", contractor, "tools/call", { name, arguments: {} });
      expect(refused.answer.error?.code).toBe(-32003);
      expect(refused.answer.error?.message).toMatch(
        new RegExp(`^refused by policy: tool "${name}" is denied to you by policy rule 2`),
      );
    }
    expect(callsMade().length).toBe(before);
    const allowed = await ask("github", contractor, "tools/call", { name: "list_repos", arguments: {} });
    expect(allowed.answer.result?.content?.[0]?.text).toBe("list_repos on github: {}");
  });

  it("gives a user allowed only some tools of a server those tools, and none of its prompts and resources", async () => {
    const auditor = assertion("auditor", ["auditors"], "github");
    const tools = await ask("github", auditor, "tools/list");
    expect(tools.answer.result?.tools?.map((tool) => tool.name)).toEqual(["list_repos"]);
    for (const [method, field] of [
      ["prompts/list", "prompts"],
      ["resources/list", "resources"],
      ["resources/templates/list", "resourceTemplates"],
    ] as const) {
      expect((await ask("github", auditor, method)).answer.result?.[field]).toEqual([]);
    }
    const reads = [
      ["prompts/get", { name: "triage" }],
      ["resources/read", { uri: "github://readme" }],
      ["completion/complete", { ref: { type: "ref/resource", uri: "repo://{id}" }, argument: { name: "id", value: "" } }],
    ] as const;
    for (const [method, params] of reads) {
      const { answer } = await ask("github", auditor, method, params);
      expect(answer.error?.code, method).toBe(-32003);
      expect(answer.error?.message).toBe(
        'refused by policy: the rules that allow you server "github" name only some of its tools; its prompts and resources need an allow rule without "tools" and "annotations"',
      );
    }
  });

  it.each([
    ["with its length, as the edge sends it", true],
    ["without a length", false],
  ])(
    "drops a listen's resource subscriptions (%s) for a user who may not see the server's resources: the upstream never watches them",
    async (how, withLength) => {
      const listen = async (who: VerifiedAssertion) => {
        const request = modernRequest("subscriptions/listen", { notifications: { resourceSubscriptions: ["github://readme"] } });
        const body = await request.text();
        const headers = new Headers(request.headers);
        if (withLength) headers.set("content-length", String(Buffer.byteLength(body)));
        const response = await serveMcp(pool, "github", who, new Request(request.url, { method: "POST", headers, body }), policy);
        expect(response.status).toBe(200);
        return response;
      };
      const subscribed = () => callsMade().filter((line) => line === "subscribe github://readme").length;
      const before = subscribed();
      const denied = await listen(assertion(`auditor-listen-${how}`, ["auditors"], "github"));
      const allowed = await listen(assertion(`engineer-listen-${how}`, ["engineering"], "github"));
      await expect.poll(subscribed, { timeout: 5_000 }).toBe(before + 1); // the engineer's: the way works
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(subscribed()).toBe(before + 1); // and the auditor's never came
      await Promise.all([denied.body?.cancel(), allowed.body?.cancel()]);
    },
  );

  it("gives a user allowed the whole server its prompts and resources", async () => {
    const engineer = assertion("engineer", ["engineering"], "github");
    expect((await ask("github", engineer, "prompts/list")).answer.result?.prompts).toEqual([
      expect.objectContaining({ name: "triage" }),
    ]);
    const read = await ask("github", engineer, "resources/read", { uri: "github://readme" });
    expect(JSON.stringify(read.answer.result)).toContain("github://readme on github");
  });

  it("refuses a call of a name the upstream does not list, such as another spelling of a denied tool, before it reaches it", async () => {
    const contractor = assertion("contractor", ["engineering", "contractors"], "github");
    const before = callsMade().length;
    for (const name of ["Delete_Repo", "DELETE_REPO", "delete-repo"]) {
      const { answer } = await ask("github", contractor, "tools/call", { name, arguments: {} });
      expect(answer.error?.code).toBe(-32602);
      expect(answer.error?.message).toBe(`unknown tool "${name}": server "github" does not list it`);
    }
    expect(callsMade().length).toBe(before);
  });

  it("lets a user call a tool the upstream added without saying its list changed", async () => {
    const engineer = assertion("engineer", ["engineering"], "quiet");
    expect((await ask("quiet", engineer, "tools/list")).answer.result?.tools?.map((tool) => tool.name)).not.toContain("added_1");
    await ask("quiet", engineer, "tools/call", { name: "add_tool", arguments: {} });
    const called = await ask("quiet", engineer, "tools/call", { name: "added_1", arguments: {} });
    expect(called.answer.result?.content?.[0]?.text).toBe("added_1");
  });
});
