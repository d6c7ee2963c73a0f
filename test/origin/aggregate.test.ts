import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Aggregation } from "../../aws/origin/aggregate/aggregation.ts";
import { wholeList } from "../../aws/origin/aggregate/lists.ts";
import { type AggregateOptions, serveAggregate } from "../../aws/origin/aggregate/serve-aggregate.ts";
import { createHostPool, type HostPool } from "../../aws/origin/hosting/host-pool.ts";
import { serveMcp } from "../../aws/origin/hosting/mcp-route.ts";
import type { VerifiedAssertion } from "../../aws/origin/trust/verify-assertion.ts";
import { ANSWER_OUTCOME_HEADER } from "../../contract/answer-outcome.ts";
import { Policy } from "../../contract/config/policy.ts";
import { ALL_SERVERS } from "../../contract/edge-assertion.ts";
import { catalogServer } from "../fixtures/catalog-upstream/launch.ts";
import { messagesOf, modernRequest, testHostOptions } from "./modern-request.ts";

// The aggregated endpoint at the origin, over real stdio upstreams: merged lists with names that never collide,
// calls routed back to their server, a failing or slow server left out, and policy in every list and call.
const LONG_TOOL = `summarize_${"quarterly_".repeat(6)}report`; // 70 characters
const callLog = join(mkdtempSync(join(tmpdir(), "aggregate-")), "calls.log");
const servers = {
  alpha: catalogServer({
    name: "alpha",
    callLog,
    tools: [{ name: "search" }, { name: LONG_TOOL }],
    prompts: ["greet"],
    resources: ["file:///alpha/readme"],
    growable: true,
  }),
  beta: catalogServer({ name: "beta", callLog, tools: [{ name: "search" }], templateScheme: "beta" }),
  secret: catalogServer({ name: "secret", callLog, tools: [{ name: "open_vault" }] }),
  broken: catalogServer({ name: "broken", crash: true }),
};
const policy = Policy.parse({
  rules: [
    { effect: "allow", who: { everyone: true }, servers: ["alpha", "beta", "broken"] },
    { effect: "allow", who: { groups: ["security"] }, servers: ["secret"] },
  ],
});

const leftOut: string[] = [];
let pool: HostPool;
let options: AggregateOptions;
beforeAll(() => {
  pool = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 20, host: testHostOptions, log: () => {} });
  options = {
    servers: Object.keys(servers),
    policy,
    // Long enough for several children to start at once on a busy machine.
    upstreamTimeoutMs: 15_000,
    keepAliveMs: 0,
    askServer: (server, assertion, request) => serveMcp(pool, server, assertion, request, policy),
    leftOut: (server, method, reason) => leftOut.push(`${server} ${method}: ${reason}`),
  };
});
afterAll(() => pool.close());

const user = (sub: string, groups: string[] = []) =>
  ({
    sub,
    email: `${sub}@example.com`,
    groups,
    client_id: "c",
    server: ALL_SERVERS,
    purpose: "mcp",
    jti: sub,
    exp: 0,
  }) as VerifiedAssertion;
const ALICE = user("alice");
const SECURITY = user("sam", ["security"]);

type Answer = { result?: Record<string, unknown> & { tools?: { name: string }[] }; error?: { code: number; message: string } };
async function ask(who: VerifiedAssertion, method: string, params: Record<string, unknown> = {}) {
  const response = await serveAggregate(options, who, modernRequest(method, params));
  const messages = (await messagesOf(response)) as Answer[];
  return { status: response.status, answer: messages.find((message) => message.result || message.error) as Answer };
}
const toolNames = async (who: VerifiedAssertion) =>
  ((await ask(who, "tools/list")).answer.result?.tools ?? []).map((tool) => tool.name);
const textOf = (answer: Answer) => (answer.result?.content as { text: string }[] | undefined)?.[0]?.text;
const callsMade = () => (existsSync(callLog) ? readFileSync(callLog, "utf8").split("\n").filter(Boolean) : []);

describe("the aggregated endpoint", () => {
  it("lists every permitted server's tools under names that never collide and stay within 64 characters", async () => {
    const names = await toolNames(ALICE);
    expect(names).toContain("alpha__search");
    expect(names).toContain("beta__search");
    expect(names.every((name) => name.length <= 64)).toBe(true);
    const long = names.find((name) => name.startsWith("alpha__summarize_"));
    expect(long).toHaveLength(64);
    expect(new Set(names).size).toBe(names.length);
    // Deterministic: the same list gives the same names.
    expect(await toolNames(ALICE)).toEqual(names);
  }, 30_000);

  it("routes two tools of the same name each to its own server", async () => {
    expect(textOf((await ask(ALICE, "tools/call", { name: "alpha__search", arguments: { text: "x" } })).answer)).toBe(
      'search on alpha: {"text":"x"}',
    );
    expect(textOf((await ask(ALICE, "tools/call", { name: "beta__search", arguments: {} })).answer)).toBe("search on beta: {}");
  });

  it("routes a shortened name back to the long tool", async () => {
    const long = (await toolNames(ALICE)).find((name) => name.startsWith("alpha__summarize_")) as string;
    expect(textOf((await ask(ALICE, "tools/call", { name: long, arguments: {} })).answer)).toBe(`${LONG_TOOL} on alpha: {}`);
  });

  it("leaves a server that cannot start out of the list, reporting it", async () => {
    const names = await toolNames(ALICE);
    expect(names.some((name) => name.startsWith("broken__"))).toBe(false);
    expect(leftOut.some((line) => line.startsWith("broken tools/list: it answered error -32000"))).toBe(true);
  });

  it("leaves a server that answers too slowly out of the list, and lists the others", async () => {
    const slowPool = createHostPool({
      servers: { quick: servers.beta, slow: catalogServer({ name: "slow", startDelayMs: 8_000, tools: [{ name: "late" }] }) },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: () => {},
    });
    const reports: string[] = [];
    const slowOptions: AggregateOptions = {
      ...options,
      servers: ["quick", "slow"],
      policy: undefined,
      upstreamTimeoutMs: 4_000,
      askServer: (server, assertion, request) => serveMcp(slowPool, server, assertion, request),
      leftOut: (server, method, reason) => reports.push(`${server} ${method}: ${reason}`),
    };
    try {
      const response = await serveAggregate(slowOptions, ALICE, modernRequest("tools/list"));
      const [answer] = (await messagesOf(response)) as Answer[];
      expect(answer?.result?.tools?.map((tool) => tool.name)).toEqual(["quick__search"]);
      expect(reports).toEqual(["slow tools/list: no answer within 4000 ms"]);
    } finally {
      await slowPool.close();
    }
  }, 30_000);

  it("holds a server to one time limit for all of its pages, not one limit per page", async () => {
    const reports: string[] = [];
    let asked = 0;
    const aggregation = new Aggregation({
      message: { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
      request: new Request("http://origin.test/mcp", { method: "POST" }),
      permitted: ["paged"],
      allServers: ["paged"],
      // Every page comes within the limit and names another: fifty of them would take fifty times as long.
      ask: async () => {
        asked++;
        await new Promise((resolve) => setTimeout(resolve, 60));
        return Response.json({ jsonrpc: "2.0", id: 1, result: { tools: [{ name: `t${asked}` }], nextCursor: `more${asked}` } });
      },
      timeoutMs: 200,
      report: (server, method, reason) => reports.push(`${server} ${method}: ${reason}`),
    });
    const lists = await aggregation.collect("tools/list", (server) => wholeList(aggregation, server, "tools/list"));
    expect(lists.size).toBe(0);
    expect(reports).toEqual(["paged tools/list: no answer within 200 ms"]);
    expect(asked).toBeLessThan(10);
  });

  it.each([
    ["its last page says an empty cursor", ["", ""]],
    ["a cursor comes back", ["c1", "c1"]],
  ])("ends a server's list where %s, each item once", async (_case, cursors) => {
    const asked: unknown[] = [];
    const aggregation = new Aggregation({
      message: { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
      request: new Request("http://origin.test/mcp", { method: "POST" }),
      permitted: ["looping"],
      allServers: ["looping"],
      ask: async (_server, request) => {
        const { cursor } = ((await request.json()) as { params: { cursor?: string } }).params;
        asked.push(cursor);
        const page = cursor === undefined ? 0 : 1;
        return Response.json({ jsonrpc: "2.0", id: 1, result: { tools: [{ name: `t${page}` }], nextCursor: cursors[page] } });
      },
      timeoutMs: 5_000,
      report: () => {},
    });
    const lists = await aggregation.collect("tools/list", (server) => wholeList(aggregation, server, "tools/list"));
    const names = lists.get("looping")?.map((tool) => tool.name);
    expect(new Set(names).size).toBe(names?.length);
    expect(asked.length).toBeLessThanOrEqual(2);
  });

  it("gives up a left-out server's request: it does not work on for nobody", async () => {
    const reports: string[] = [];
    let gaveUp: unknown;
    const aggregation = new Aggregation({
      message: { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
      request: new Request("http://origin.test/mcp", { method: "POST" }),
      permitted: ["stuck"],
      allServers: ["stuck"],
      ask: (_server, request) =>
        new Promise((_resolve, reject) => {
          request.signal.addEventListener("abort", () => {
            gaveUp = request.signal.reason;
            reject(request.signal.reason);
          });
        }),
      timeoutMs: 100,
      report: (server, method, reason) => reports.push(`${server} ${method}: ${reason}`),
    });
    const lists = await aggregation.collect("tools/list", (server) => wholeList(aggregation, server, "tools/list"));
    expect(lists.size).toBe(0);
    expect(reports).toEqual(["stuck tools/list: no answer within 100 ms"]);
    expect(String(gaveUp)).toContain("left out: it answered too late");
  });

  it("shows a group-only server to its group only, and refuses a direct call from anyone else without reaching it", async () => {
    expect(await toolNames(SECURITY)).toContain("secret__open_vault");
    expect((await toolNames(ALICE)).some((name) => name.startsWith("secret__"))).toBe(false);
    const { status, answer } = await ask(ALICE, "tools/call", { name: "secret__open_vault", arguments: {} });
    expect(status).toBe(200);
    expect(answer.error).toEqual({ code: -32602, message: 'unknown tool "secret__open_vault"' });
    expect(callsMade()).not.toContain("open_vault");
  });

  it("answers a name of a server the policy refuses exactly as a name of no server, so the refused server's name is not confirmed; the audit label still says denied", async () => {
    // The same upstream name under a server name of the same length: only whether "secret" exists differs.
    const asked = async (method: string, params: Record<string, unknown>, name: string) => {
      const response = await serveAggregate(options, ALICE, modernRequest(method, params));
      const seen = { status: response.status, body: (await response.text()).replaceAll(name, "NAME") };
      return { seen, label: response.headers.get(ANSWER_OUTCOME_HEADER) };
    };
    const paramsOf = {
      "tools/call": (name: string) => ({ name, arguments: {} }),
      "prompts/get": (name: string) => ({ name }),
      "completion/complete": (name: string) => ({ ref: { type: "ref/prompt", name }, argument: { name: "a", value: "" } }),
    };
    for (const [method, params] of Object.entries(paramsOf)) {
      const refused = await asked(method, params("secret__open_vault"), "secret__open_vault");
      const unknown = await asked(method, params("nowher__open_vault"), "nowher__open_vault");
      expect(refused.seen, method).toEqual(unknown.seen);
      expect(refused.seen.body, method).not.toMatch(/policy|refused|-32003|secret/);
      // Only the origin's label for the edge differs (the edge audits by it and never relays it): administrators
      // still see the refusal.
      expect(refused.label, method).toBe("denied -32003");
      expect(unknown.label, method).toBeNull();
    }
    expect(callsMade()).not.toContain("open_vault");
  });

  it("answers an unknown name as unknown, naming it", async () => {
    const { answer } = await ask(ALICE, "tools/call", { name: "nowhere__search", arguments: {} });
    expect(answer.error).toEqual({ code: -32602, message: 'unknown tool "nowhere__search"' });
  });

  it("merges discovery: the union of capabilities, and instructions naming the servers included", async () => {
    const { result } = (await ask(ALICE, "server/discover")).answer;
    const capabilities = result?.capabilities as Record<string, Record<string, unknown>>;
    expect(capabilities.tools?.listChanged).toBe(true);
    expect(capabilities.prompts).toBeDefined();
    expect(capabilities.resources).toBeDefined();
    expect(result?.instructions).toMatch(/combines the MCP servers you may use: alpha, beta\./);
    expect(result?.instructions).toMatch(/Unavailable right now: broken\./);
    expect(result?.instructions).not.toMatch(/secret/);
  });

  it("lists and gets prompts under public names, and reads resources by their own URIs", async () => {
    const prompts = (await ask(ALICE, "prompts/list")).answer.result?.prompts as { name: string }[];
    expect(prompts.map((prompt) => prompt.name)).toEqual(["alpha__greet"]);
    const prompt = (await ask(ALICE, "prompts/get", { name: "alpha__greet" })).answer.result;
    expect(JSON.stringify(prompt)).toContain("greet on alpha");
    const resources = (await ask(ALICE, "resources/list")).answer.result?.resources as { uri: string }[];
    expect(resources.map((resource) => resource.uri)).toEqual(["file:///alpha/readme"]);
    const read = (await ask(ALICE, "resources/read", { uri: "file:///alpha/readme" })).answer.result;
    expect(JSON.stringify(read)).toContain("file:///alpha/readme on alpha");
    const templated = (await ask(ALICE, "resources/read", { uri: "beta://42" })).answer.result;
    expect(JSON.stringify(templated)).toContain("beta://42 on beta");
    // No server lists it, but "broken" never answers: it might, so the URI is not said to exist nowhere.
    const missing = (await ask(ALICE, "resources/read", { uri: "file:///nowhere" })).answer;
    expect(missing.error?.message).toMatch(/^the resource file:\/\/\/nowhere cannot be placed while "broken" did not answer/);
  });

  it("completes a template's argument at the template's server", async () => {
    const { result } = (
      await ask(ALICE, "completion/complete", {
        ref: { type: "ref/resource", uri: "beta://{id}" },
        argument: { name: "id", value: "al" },
      })
    ).answer;
    expect(result?.completion).toMatchObject({ values: ["alpha"] });
  });

  it("carries a list change of any server on the merged listen stream", async () => {
    const response = await serveAggregate(
      options,
      ALICE,
      modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }),
    );
    const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
    if (!reader) throw new Error("no stream");
    let seen = "";
    const until = async (text: string) => {
      while (!seen.includes(text)) {
        const next = await reader.read();
        if (next.done) throw new Error(`stream ended before ${text}`);
        seen += next.value;
      }
    };
    await until("notifications/subscriptions/acknowledged");
    await ask(ALICE, "tools/call", { name: "alpha__add_tool", arguments: {} });
    await until("notifications/tools/list_changed");
    expect(seen.split("notifications/subscriptions/acknowledged").length).toBe(2); // acknowledged once, not per server
    await reader.cancel();
    expect(await toolNames(ALICE)).toContain("alpha__added_1");
  }, 30_000);

  it("cancels a listen that answers after its server was left out, so it does not hold that server's connection", async () => {
    const reports: string[] = [];
    let cancelled: unknown;
    const late = new ReadableStream({
      cancel: (reason) => {
        cancelled = reason;
      },
    });
    const aggregation = new Aggregation({
      message: { jsonrpc: "2.0", id: 1, method: "subscriptions/listen", params: {} },
      request: new Request("http://origin.test/mcp", { method: "POST" }),
      permitted: ["slow"],
      allServers: ["slow"],
      ask: async () => new Response(late, { headers: { "content-type": "text/event-stream" } }),
      timeoutMs: 100,
      report: (server, method, reason) => reports.push(`${server} ${method}: ${reason}`),
    });
    const opened = await aggregation.collect("subscriptions/listen", async (server) => {
      const response = await aggregation.forward(server, {});
      await new Promise((resolve) => setTimeout(resolve, 300)); // the stream opens after the deadline
      return response.body as ReadableStream<Uint8Array>;
    });
    expect(opened.size).toBe(0);
    expect(reports).toEqual(["slow subscriptions/listen: no answer within 100 ms"]);
    await vi.waitFor(() => expect(cancelled).toBe("left out: it answered too late"), { timeout: 2_000 });
  });

  it("keeps the merged listen open beside a server that watches none of what was asked", async () => {
    const quietPool = createHostPool({
      servers: { quiet: catalogServer({ name: "quiet", tools: [{ name: "x" }], quietTools: true }), alpha: servers.alpha },
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: () => {},
    });
    const quietOptions: AggregateOptions = {
      ...options,
      servers: ["quiet", "alpha"],
      policy: undefined,
      askServer: (server, assertion, request) => serveMcp(quietPool, server, assertion, request),
    };
    try {
      const listen = modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } });
      const reader = ((await serveAggregate(quietOptions, ALICE, listen)).body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let seen = "";
      const until = async (text: string) => {
        while (!seen.includes(text)) {
          const next = await reader.read();
          if (next.done) throw new Error(`stream ended before ${text}`);
          seen += decoder.decode(next.value);
        }
      };
      await until("notifications/subscriptions/acknowledged");
      const grow = modernRequest("tools/call", { name: "alpha__add_tool", arguments: {} });
      await serveAggregate(quietOptions, ALICE, grow);
      await until("notifications/tools/list_changed");
      await reader.cancel();
    } finally {
      await quietPool.close();
    }
  }, 30_000);

  it("ends the merged listen stream when one server's listen ends, so the client listens again", async () => {
    const response = await serveAggregate(
      options,
      ALICE,
      modernRequest("subscriptions/listen", { notifications: { toolsListChanged: true } }),
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let seen = "";
    while (!seen.includes("notifications/subscriptions/acknowledged")) seen += decoder.decode((await reader.read()).value);
    // Beta's connection for Alice is lost (its child exits): its listen ends, and with it the merged stream.
    const beta = await pool.acquire("beta", { sub: "alice", server: "beta", clientId: "c", era: "modern" });
    beta.release();
    process.kill(beta.host.pid as number, "SIGKILL");
    for (let next = await reader.read(); !next.done; next = await reader.read()) seen += decoder.decode(next.value);
    expect(seen.split("notifications/subscriptions/acknowledged").length).toBe(2);
  }, 30_000);
});

// Resource URIs go to the server that serves them: one that lists a URI, else the one whose matching template fixes
// the most of it. A server configured first with a catch-all template does not receive another server's URIs.
describe("the aggregated endpoint's resource routing", () => {
  const claiming = {
    notes: catalogServer({ name: "notes", uriTemplate: "{+uri}", resources: ["shared://plan"] }),
    github: catalogServer({ name: "github", templateScheme: "github", uriTemplate: "{+uri}", resources: ["shared://plan"] }),
  };
  const everyone = Policy.parse({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["*"] }] });
  let claimingPool: HostPool;
  let routing: AggregateOptions;
  beforeAll(() => {
    claimingPool = createHostPool({
      servers: claiming,
      idleTimeoutMs: 60_000,
      maxProcesses: 4,
      host: testHostOptions,
      log: () => {},
    });
    routing = {
      servers: Object.keys(claiming),
      policy: everyone,
      upstreamTimeoutMs: 15_000,
      keepAliveMs: 0,
      askServer: (server, assertion, request) => serveMcp(claimingPool, server, assertion, request, everyone),
      leftOut: () => {},
    };
  });
  afterAll(() => claimingPool.close());
  const read = async (uri: string) => {
    const messages = (await messagesOf(
      await serveAggregate(routing, ALICE, modernRequest("resources/read", { uri })),
    )) as Answer[];
    return messages.find((message) => message.result || message.error) as Answer;
  };

  it("sends a URI to the template that fixes the most of it, not to a catch-all configured first", async () => {
    expect(JSON.stringify((await read("github://42")).result)).toContain("github://42 on github");
    // Both catch-alls match anything else equally well: that goes to neither.
    expect((await read("notes://today")).error?.message).toContain("claimed by notes and github alike");
  });

  it("refuses to complete a template two servers offer alike, naming both", async () => {
    const completion = modernRequest("completion/complete", {
      ref: { type: "ref/resource", uri: "{+uri}" },
      argument: { name: "uri", value: "a" },
    });
    const messages = (await messagesOf(await serveAggregate(routing, ALICE, completion))) as Answer[];
    expect(messages.at(-1)?.error?.message).toBe(
      "the resource {+uri} is claimed by notes and github alike; read it at one server's own endpoint",
    );
  });

  it("refuses a URI two servers list alike, naming both, and sends it to neither", async () => {
    expect((await read("shared://plan")).error).toEqual({
      code: -32602,
      message: "the resource shared://plan is claimed by notes and github alike; read it at one server's own endpoint",
    });
  });
});

describe("the aggregated endpoint beside a server that did not list its resources", () => {
  const routes = (servers: Record<string, ReturnType<typeof catalogServer>>, upstreamTimeoutMs: number) => {
    const everyone = Policy.parse({ rules: [{ effect: "allow", who: { everyone: true }, servers: ["*"] }] });
    const reports: string[] = [];
    const hosts = createHostPool({ servers, idleTimeoutMs: 60_000, maxProcesses: 4, host: testHostOptions, log: () => {} });
    const settings: AggregateOptions = {
      servers: Object.keys(servers),
      policy: everyone,
      upstreamTimeoutMs,
      keepAliveMs: 0,
      askServer: (server, assertion, request) => serveMcp(hosts, server, assertion, request, everyone),
      leftOut: (server, method) => reports.push(`${server} ${method}`),
    };
    const answer = async (method: string, params: Record<string, unknown> = {}) => {
      const messages = (await messagesOf(await serveAggregate(settings, ALICE, modernRequest(method, params)))) as Answer[];
      return messages.find((message) => message.result || message.error) as Answer;
    };
    return { hosts, reports, answer };
  };

  it("gives another server's catch-all none of its URIs while it starts; a template fixing the scheme still gets its own", async () => {
    const { hosts, answer } = routes(
      {
        owner: catalogServer({ name: "owner", resources: ["shared://doc"], startDelayMs: 12_000 }),
        grabber: catalogServer({ name: "grabber", uriTemplate: "{+uri}", templateScheme: "grab" }),
      },
      3_000,
    );
    try {
      // The catch-all's server is up; the owner is still starting (a cold per-user child).
      await serveMcp(hosts, "grabber", { ...ALICE, server: "grabber" }, modernRequest("resources/templates/list"));
      expect((await answer("resources/read", { uri: "shared://doc" })).error).toEqual({
        code: -32000,
        message:
          'the resource shared://doc cannot be placed while "owner" did not answer (starting, or failing); try again shortly',
      });
      expect(JSON.stringify((await answer("resources/read", { uri: "grab://7" })).result)).toContain("grab://7 on grabber");
    } finally {
      await hosts.close();
    }
  });

  it("reports nothing of a server that has no prompts or resources at all", async () => {
    const { hosts, reports, answer } = routes(
      {
        docs: catalogServer({ name: "docs", prompts: ["greet"], resources: ["file:///docs/readme"] }),
        tools: catalogServer({ name: "tools", tools: [{ name: "t" }] }),
      },
      15_000,
    );
    try {
      expect((await answer("prompts/list")).result?.prompts).toEqual([expect.objectContaining({ name: "docs__greet" })]);
      expect(JSON.stringify((await answer("resources/read", { uri: "file:///docs/readme" })).result)).toContain("on docs");
      expect(reports).toEqual([]);
    } finally {
      await hosts.close();
    }
  });
});
