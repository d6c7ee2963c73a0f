import { describe, expect, it } from "vitest";
import { EdgeConfig } from "../../contract/config/schema.ts";
import { groupsFromClaim } from "../../worker/auth/groups/claim-groups.ts";
import { capturedAudit } from "./audit-capture.ts";
import { callEdge } from "./edge-env.ts";
import {
  groupsEdge,
  groupsOfLastMcpRequest,
  mcpRequest,
  originSaw,
  refreshed,
  setOriginDown,
  setOriginGroups,
  signedIn,
  signInThrough,
} from "./groups-sign-in.ts";

// The local IdP signs everyone in here as dev@example.com, whose id_token lists the group "engineering".
const DEV = "dev@example.com";
const DIRECTORY = { GROUPS_SOURCE: "google-directory" };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Tests that wait out a 5-second TTL. */
const PAST_THE_TTL = { timeout: 20_000 };

describe("groups from the id_token", () => {
  it("reads the configured claim (default `groups`) and signs them into each request's assertion", async () => {
    const edge = groupsEdge({});
    const tokens = await signedIn(edge);
    expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
    expect(await groupsOfLastMcpRequest(edge)).toEqual(["engineering"]);
  });

  it("reads no groups when the configured claim is another one the token lacks", async () => {
    const edge = groupsEdge({ IDP_GROUPS_CLAIM: "roles" });
    const tokens = await signedIn(edge);
    await mcpRequest(edge, tokens.access_token);
    expect(await groupsOfLastMcpRequest(edge)).toEqual([]);
  });

  it("takes a claim's string entries, or one string, and nothing else", () => {
    expect(groupsFromClaim({ roles: ["a", 1, "", "b", null] }, "roles")).toEqual(["a", "b"]);
    expect(groupsFromClaim({ "cognito:groups": "admins" }, "cognito:groups")).toEqual(["admins"]);
    expect(groupsFromClaim({ groups: { a: 1 } }, "groups")).toEqual([]);
    expect(groupsFromClaim({}, "groups")).toEqual([]);
  });

  it("defaults to the id_token, its `groups` claim and a 15-minute TTL", () => {
    const config = EdgeConfig.parse({
      publicUrl: "https://mcp.example.com",
      originUrl: "https://origin.example.com",
      idp: { issuer: "https://accounts.example.com", clientId: "c", clientSecret: "s" },
      signingKey: "k",
    });
    expect(config.groups).toEqual({ source: "id-token", ttlSeconds: 900, include: [] });
    expect(config.idp.groupsClaim).toBe("groups");
    expect(config.adminGroups).toEqual([]);
  });
});

describe("groups from the origin's Google Directory look-up", () => {
  it("reads them at sign-in under a groups-purpose assertion for the signed-in user, instead of the id_token's", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    const tokens = await signedIn(edge);
    await mcpRequest(edge, tokens.access_token);
    expect(await groupsOfLastMcpRequest(edge)).toEqual(["eng@example.com"]);
    const lookUp = (await originSaw(edge)).find((seen) => seen.path === "/identity/groups");
    expect(lookUp?.claims).toMatchObject({ purpose: "groups", email: DEV, client_id: tokens.clientId });
  });

  it("refuses the sign-in (503) when the groups cannot be read, rather than grant without them", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginDown(edge, true);
    const audit = capturedAudit();
    const { callback } = await signInThrough({
      ...edge,
      call: (path, init) => callEdge(path, init, { ...edge.env, ...audit.env }),
    });
    expect(callback.status).toBe(503);
    const page = await callback.text();
    expect(page).toMatch(/groups could not be read from Google Workspace: the origin answered 503: Directory down/);
    // The same /callback serves the dashboard's sign-in: the page names both places to start again.
    expect(page).toContain("or at the dashboard (/ops)");
    // Audited as a sign-in refused at that step, for the user the id_token named (s24 hunt observability F15).
    await expect.poll(() => audit.events.length).toBe(1);
    expect(audit.events[0]).toMatchObject({
      kind: "auth.denied",
      outcome: "unavailable",
      method: "/callback (groups_unavailable)",
      httpStatus: 503,
      userEmail: DEV,
    });
  });

  it("says the proxy's origin, not Google, could not look them up when its database is down (s24 hunt observability F14)", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginDown(edge, "database");
    const { callback } = await signInThrough(edge);
    expect(callback.status).toBe(503);
    const page = await callback.text();
    expect(page).toContain("groups could not be looked up by this proxy&#39;s origin: the origin answered 503");
    expect(page).not.toContain("Google Workspace");
  });

  it("reads them again on refresh: the new token's requests carry the current groups", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    const tokens = await signedIn(edge);
    await setOriginGroups(edge, DEV, ["ops@example.com"]);
    const next = await refreshed(edge, tokens);
    await mcpRequest(edge, next.access_token);
    expect(await groupsOfLastMcpRequest(edge)).toEqual(["ops@example.com"]);
  });

  it(
    "refuses a request (503, JSON-RPC) when its groups are older than the TTL and cannot be read again",
    PAST_THE_TTL,
    async () => {
      const edge = groupsEdge({ ...DIRECTORY, GROUPS_TTL_SECONDS: "5" });
      await setOriginGroups(edge, DEV, ["eng@example.com"]);
      const tokens = await signedIn(edge);
      await setOriginDown(edge, true);
      expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
      await sleep(5_500);
      const before = (await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/")).length;
      const refused = await mcpRequest(edge, tokens.access_token);
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("10");
      expect(await refused.json()).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
      // Refused at the edge: the MCP request never reached the origin.
      expect((await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/")).length).toBe(before);
    },
  );

  it("reads them again once older than the TTL, even though the access token lives on", PAST_THE_TTL, async () => {
    const edge = groupsEdge({ ...DIRECTORY, GROUPS_TTL_SECONDS: "5" });
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    const tokens = await signedIn(edge);
    await setOriginGroups(edge, DEV, []);
    await mcpRequest(edge, tokens.access_token);
    expect(await groupsOfLastMcpRequest(edge)).toEqual(["eng@example.com"]);
    await sleep(5_500);
    expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
    expect(await groupsOfLastMcpRequest(edge)).toEqual([]);
  });
});

describe("groups.include", () => {
  it("keeps of the id_token's groups only those it names", async () => {
    for (const [include, kept] of [
      ["eng*", ["engineering"]],
      ["ops*,sales", []],
    ] as const) {
      const edge = groupsEdge({ GROUPS_INCLUDE: include });
      const tokens = await signedIn(edge);
      await mcpRequest(edge, tokens.access_token);
      expect(await groupsOfLastMcpRequest(edge)).toEqual(kept);
    }
  });

  it("keeps of the Directory's groups those it names, compared without case, and the admin groups always", async () => {
    const edge = groupsEdge({ ...DIRECTORY, GROUPS_INCLUDE: "team-mcp-*@example.com", ADMIN_GROUPS: "admins@example.com" });
    await setOriginGroups(edge, DEV, ["eng@example.com", "Team-MCP-Data@example.com", "Admins@example.com", "all@example.com"]);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    expect(tokens.scope.split(" ").sort()).toEqual(["mcp", "mcp:admin"]);
    await mcpRequest(edge, tokens.access_token);
    expect(await groupsOfLastMcpRequest(edge)).toEqual(["Team-MCP-Data@example.com", "Admins@example.com"]);
  });
});

describe("a user in too many groups to carry", () => {
  const many = Array.from({ length: 600 }, (_, index) => `directory-group-number-${index}@example.com`);

  it("is told so (JSON-RPC -32603), with what to ask for, and nothing reaches the origin", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginGroups(edge, DEV, many);
    const tokens = await signedIn(edge);
    const before = (await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/")).length;
    const refused = await mcpRequest(edge, tokens.access_token);
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { code: -32603, message: expect.stringMatching(/carries 600 groups, too many .* \(groups\.include\)/) },
    });
    expect((await originSaw(edge)).filter((seen) => seen.path.startsWith("/servers/")).length).toBe(before);
  });

  it("is told so on a 2025-era client's initialize too, not that the server is unavailable", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginGroups(edge, DEV, many);
    const tokens = await signedIn(edge);
    const refused = await edge.call("/mcp/everything", {
      method: "POST",
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "legacy", version: "1" } },
      }),
    });
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({ error: { code: -32603, message: expect.stringMatching(/carries 600 groups/) } });
  });

  it("is served once groups.include keeps the groups that matter", async () => {
    const edge = groupsEdge({ ...DIRECTORY, GROUPS_INCLUDE: "directory-group-number-1?@example.com" });
    await setOriginGroups(edge, DEV, many);
    const tokens = await signedIn(edge);
    expect((await mcpRequest(edge, tokens.access_token)).status).toBe(200);
    expect(await groupsOfLastMcpRequest(edge)).toHaveLength(10);
  });
});

describe("the mcp:admin scope", () => {
  const ADMINS = { ...DIRECTORY, ADMIN_GROUPS: "admins@example.com" };

  it("is granted to a member of an admin group who asks for it", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["eng@example.com", "Admins@Example.com"]);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    expect(tokens.scope.split(" ").sort()).toEqual(["mcp", "mcp:admin"]);
  });

  it("is not granted to an admin who did not ask for it", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["admins@example.com"]);
    expect((await signedIn(edge, "mcp")).scope).toBe("mcp");
  });

  it("is silently not granted to a user outside the admin groups", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    expect((await signedIn(edge, "mcp mcp:admin")).scope).toBe("mcp");
  });

  it("is granted to nobody when no admin groups are configured", async () => {
    const edge = groupsEdge(DIRECTORY);
    await setOriginGroups(edge, DEV, ["admins@example.com"]);
    expect((await signedIn(edge, "mcp mcp:admin")).scope).toBe("mcp");
  });

  it("disappears on refresh once the user left the admin group", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["admins@example.com"]);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    expect(tokens.scope).toContain("mcp:admin");
    await setOriginGroups(edge, DEV, ["eng@example.com"]);
    expect((await refreshed(edge, tokens)).scope).toBe("mcp");
  });

  it("is not carried over a refresh whose groups cannot be read; the refresh itself succeeds", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["admins@example.com"]);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    await setOriginDown(edge, true);
    expect((await refreshed(edge, tokens)).scope).toBe("mcp");
  });

  it("stays on refresh while the user is still an admin", async () => {
    const edge = groupsEdge(ADMINS);
    await setOriginGroups(edge, DEV, ["admins@example.com"]);
    const tokens = await signedIn(edge, "mcp mcp:admin");
    expect((await refreshed(edge, tokens)).scope.split(" ").sort()).toEqual(["mcp", "mcp:admin"]);
  });
});
