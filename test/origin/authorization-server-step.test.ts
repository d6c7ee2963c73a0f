import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUTHORIZATION_SERVER_TIMEOUT_MS,
  authorizationServerStep,
  MAX_AUTHORIZATION_SERVER_ANSWER_BYTES,
} from "../../aws/origin/upstream-auth/authorization-server-fetch.ts";

// One step with an upstream's authorization server (a discovery, a token request) is bounded as a whole: in time,
// whatever number of requests and redirects it makes, and in the size of what it reads.

let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((request, response) => {
    const path = request.url ?? "/";
    if (path === "/slow") return void setTimeout(() => response.writeHead(200).end("{}"), AUTHORIZATION_SERVER_TIMEOUT_MS * 0.4);
    if (path === "/huge") {
      response.writeHead(200, { "content-type": "application/json" });
      return void response.end("x".repeat(MAX_AUTHORIZATION_SERVER_ANSWER_BYTES + 1));
    }
    if (path === "/moved") return void response.writeHead(302, { location: "/slow" }).end();
    response.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("a step with an authorization server", () => {
  it("fails once all its requests together take longer than the limit, though none alone does", { timeout: 30_000 }, async () => {
    const step = authorizationServerStep(base);
    expect((await step(`${base}/slow`)).status).toBe(200);
    expect((await step(`${base}/slow`)).status).toBe(200);
    await expect(step(`${base}/slow`)).rejects.toThrow();
    // The next step has its own time.
    expect((await authorizationServerStep(base)(`${base}/ok`)).status).toBe(200);
  });

  it("fails reading an answer larger than the limit", async () => {
    const answer = await authorizationServerStep(base)(`${base}/huge`);
    await expect(answer.text()).rejects.toThrow(/passed \d+ bytes/);
  });

  it("checks every request's address against the URL the step's target was found from, when it is made", async () => {
    // An authorization server found from a public upstream whose name now points inside (or that names this host).
    await expect(authorizationServerStep("https://203.0.113.10/mcp")(`${base}/ok`)).rejects.toThrow(/further inside the network/);
  });

  it("hands over answers as they came: a redirect not followed, a JSON body", async () => {
    const step = authorizationServerStep(base);
    const moved = await step(`${base}/moved`, { redirect: "manual" });
    expect(moved.status).toBe(302);
    expect(moved.headers.get("location")).toBe("/slow");
    expect(await (await step(`${base}/ok`)).json()).toEqual({ ok: true });
  });
});
