import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { authorizationServerStep } from "../../aws/origin/upstream-auth/authorization-server-fetch.ts";
import { AuthorizationDiscovery } from "../../aws/origin/upstream-auth/discovery.ts";
import { connectionsWithin } from "../../aws/origin/upstream-auth/guarded-connections.ts";
import { internalTargetGuard, Reach } from "../../aws/origin/upstream-auth/internal-targets.ts";
import { type HttpServer, UpstreamServer } from "../../contract/config/schema.ts";

// The origin runs inside a VPC: URLs an upstream hands it (its authorization server, that server's token and
// registration endpoints) must not aim its requests further into the network than the upstream itself is.

const PUBLIC = "https://203.0.113.10/mcp";
const PRIVATE = "https://10.1.2.3/mcp";
const LOOPBACK = "http://127.0.0.1:8080/mcp";

describe("a URL an upstream supplies", () => {
  it.each([
    ["the instance metadata service", PRIVATE, "http://169.254.169.254/latest"],
    ["the ECS credentials endpoint", LOOPBACK, "http://169.254.170.2/v2/credentials/x"],
    ["a link-local address written as IPv6", LOOPBACK, "http://[::ffff:169.254.169.254]/"],
    ["EC2's IPv6 metadata address", PRIVATE, "http://[fd00:ec2::254]/"],
    ["an IPv4-compatible IPv6 address (::a9fe:a9fe)", LOOPBACK, "http://[::a9fe:a9fe]/"],
    ["an IPv4-translated IPv6 address", LOOPBACK, "http://[::ffff:0:a9fe:a9fe]/"],
    ["a NAT64 address, from a public upstream", PUBLIC, "http://[64:ff9b::a00:5]/"],
    ["a private address, from a public upstream", PUBLIC, "https://10.0.0.5/token"],
    ["a shared-address-space address, from a public upstream", PUBLIC, "https://100.64.0.1/token"],
    ["loopback (a sidecar's admin port), from a public upstream", PUBLIC, "https://127.0.0.1:9901/quitquitquit"],
    ["loopback, from a private upstream", PRIVATE, "https://[::1]/token"],
    ["a name that resolves to loopback, from a public upstream", PUBLIC, "https://localhost/token"],
  ])("is refused when it is %s", async (_, reference, target) => {
    await expect(internalTargetGuard(reference)(target, "the token endpoint")).rejects.toThrow(/further inside the network than/);
  });

  it.each([
    ["public, from a public upstream", PUBLIC, "https://198.51.100.7/token"],
    ["private, from a private upstream (an authorization server in the VPC)", PRIVATE, "https://10.9.9.9/token"],
    ["public, from a private upstream", PRIVATE, "https://198.51.100.7/token"],
    ["loopback, from a loopback upstream (local runs and tests)", LOOPBACK, "http://127.0.0.1:9000/token"],
    ["IPv6 loopback, from an IPv6 loopback upstream", "http://[::1]:8080/mcp", "http://[::1]:9000/token"],
  ])("is let through when it is %s", async (_, reference, target) => {
    await expect(internalTargetGuard(reference)(target, "the token endpoint")).resolves.toBeUndefined();
  });
});

describe("discovery of an upstream's authorization server", () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  /** A local server answering each path from the table (JSON), 404 otherwise; every path asked is recorded. */
  async function serving(answers: (base: string) => Record<string, unknown>) {
    const asked: string[] = [];
    let base = "";
    const server = createServer((request, response) => {
      asked.push(request.url ?? "");
      const answer = answers(base)[new URL(request.url ?? "/", base).pathname];
      if (answer === undefined) return void response.writeHead(404).end();
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { base, asked };
  }
  const discover = (url: string) =>
    new AuthorizationDiscovery().target(
      "files",
      UpstreamServer.parse({ transport: "http", url, identity: "none", oauth: { registration: "dcr" } }) as HttpServer,
    );

  it("refuses an authorization server the upstream names at a link-local address, without asking it", async () => {
    const upstream = await serving((base) => ({
      "/.well-known/oauth-protected-resource/mcp": {
        resource: `${base}/mcp`,
        authorization_servers: ["http://169.254.169.254/latest"],
      },
    }));
    await expect(discover(`${upstream.base}/mcp`)).rejects.toThrow(/169\.254\.169\.254.*further inside the network/);
  });

  it("refuses an authorization server whose token endpoint is the ECS credentials endpoint", async () => {
    const authorization = await serving((base) => ({
      "/.well-known/oauth-authorization-server": {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: "http://169.254.170.2/v2/credentials/anything",
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
      },
    }));
    const upstream = await serving((base) => ({
      "/.well-known/oauth-protected-resource/mcp": { resource: `${base}/mcp`, authorization_servers: [authorization.base] },
    }));
    await expect(discover(`${upstream.base}/mcp`)).rejects.toThrow(/token_endpoint .*169\.254\.170\.2.*further inside/);
  });
});

describe("the connections of a step with an authorization server", () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  /** A local server that answers every request with a redirect to `location`. */
  async function redirectingTo(location: string) {
    const server = createServer((_, response) => void response.writeHead(302, { location }).end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The messages of an error and its causes. */
  const messagesOf = (error: unknown): string[] =>
    error instanceof Error ? [error.message, ...messagesOf(error.cause)] : error === undefined ? [] : [String(error)];

  it("follows no redirect to the instance metadata service, refused before any connection is tried", async () => {
    const base = await redirectingTo("http://169.254.169.254/latest/meta-data/");
    const started = Date.now();
    const failure = await authorizationServerStep(base)(`${base}/x`).catch((error: unknown) => error);
    expect(messagesOf(failure).join(" | ")).toMatch(/refused to connect to 169\.254\.169\.254 .*further inside the network/);
    expect(Date.now() - started).toBeLessThan(5_000); // not the step's 10 s deadline
  });

  it("refuses, when it connects, a name whose address is further in than allowed (as after a DNS rebinding)", async () => {
    const server = createServer((_, response) => void response.writeHead(200).end("inside"));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const fetchWithin = (limit: Reach, host: string) =>
      fetch(`http://${host}:${port}/`, { dispatcher: connectionsWithin(limit) } as RequestInit);
    for (const host of ["localhost", "127.0.0.1"]) {
      const failure = await fetchWithin(Reach.Public, host).catch((error: unknown) => error);
      expect(messagesOf(failure).join(" | ")).toMatch(/refused to connect to .*further inside the network/);
      const inside = await fetchWithin(Reach.Private, host).catch((error: unknown) => error);
      expect(messagesOf(inside).join(" | ")).toMatch(/refused to connect/);
      expect(await (await fetchWithin(Reach.Loopback, host)).text()).toBe("inside");
    }
  });
});
