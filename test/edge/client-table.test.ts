import { describe, expect, it } from "vitest";
import { KNOWN_CLIENTS } from "../../worker/auth/clients/known-clients.ts";
import { type ClientFacts, recognizeClient } from "../../worker/auth/clients/recognize.ts";

const recognised = (facts: Partial<ClientFacts>) => {
  const recognition = recognizeClient({ clientId: "a-registered-client", ...facts });
  return recognition.client ? { id: recognition.client.id, verified: recognition.verified, by: recognition.by } : null;
};

describe("the known-client table", () => {
  it("has one entry per client id, each recognisable by at least one signal", () => {
    expect(new Set(KNOWN_CLIENTS.map((client) => client.id)).size).toBe(KNOWN_CLIENTS.length);
    for (const { recognisedBy } of KNOWN_CLIENTS) expect(Object.values(recognisedBy).some((list) => list.length > 0)).toBe(true);
  });

  it.each([
    [
      "claude-code",
      { clientId: "https://claude.ai/oauth/claude-code-client-metadata", redirectUri: "http://localhost:51234/callback" },
    ],
    ["vscode", { clientId: "https://vscode.dev/oauth/client-metadata.json", redirectUri: "http://127.0.0.1:33418/" }],
    ["chatgpt", { clientId: "https://chatgpt.com/oauth/mcp-client.json" }],
  ])("verifies %s by its metadata document URL", (id, facts) => {
    expect(recognised(facts)).toEqual({ id, verified: true, by: "metadata-url" });
  });

  it.each([
    ["claude", "https://claude.ai/api/mcp/auth_callback"],
    ["claude", "https://claude.com/api/mcp/auth_callback"],
    ["chatgpt", "https://chatgpt.com/connector_platform_oauth_redirect"],
    ["vscode", "https://vscode.dev/redirect"],
  ])("verifies %s by an https redirect URI only it receives (%s)", (id, redirectUri) => {
    expect(recognised({ clientName: "anything", redirectUri })).toEqual({ id, verified: true, by: "redirect-uri" });
  });

  it.each([
    ["cursor", { redirectUri: "cursor://anysphere.cursor-mcp/oauth/callback" }, "redirect-uri"],
    ["windsurf", { redirectUri: "windsurf://codeium.windsurf/mcp/callback" }, "redirect-uri"],
    ["mcp-inspector", { redirectUri: "http://localhost:6274/oauth/callback" }, "redirect-uri"],
    ["mcp-remote", { redirectUri: "http://localhost:3334/oauth/callback" }, "redirect-uri"],
    ["claude-code", { clientName: "Claude Code (company-mcp)", redirectUri: "http://localhost:40000/callback" }, "client-name"],
    ["jetbrains", { clientName: "JetBrains AI Assistant", redirectUri: "http://127.0.0.1:60000/" }, "client-name"],
    ["windsurf", { clientName: "Windsurf", redirectUri: "http://127.0.0.1:60001/callback" }, "client-name"],
    ["mcp-remote", { clientName: "some bridge", softwareId: "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d" }, "software-id"],
  ])("recognises %s by what any program could claim, unverified", (id, facts, by) => {
    expect(recognised(facts)).toEqual({ id, verified: false, by });
  });

  it("does not verify a client that only takes a known name (a phishing registration)", () => {
    expect(recognised({ clientName: "Claude", redirectUri: "https://attacker.example/callback" })).toEqual({
      id: "claude",
      verified: false,
      by: "client-name",
    });
  });

  it.each([
    ["a look-alike host", { clientId: "https://chatgpt.com.attacker.example/client.json" }],
    ["another path on a host with an exact document", { clientId: "https://claude.ai/oauth/another-client" }],
    ["an unknown name and redirect", { clientName: "Acme Agent", redirectUri: "http://127.0.0.1:5000/cb" }],
  ])("leaves %s unrecognised", (_case, facts) => {
    expect(recognised(facts)).toBeNull();
  });
});
