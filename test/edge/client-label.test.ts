import { describe, expect, it } from "vitest";
import { clientLabel } from "../../worker/auth/clients/client-label.ts";

// How the consent page names the app that asks. A Client ID Metadata Document proves which domain publishes it,
// not which vendor's app it is: a document on attacker.example may call itself "Claude Code".
const cimd = (clientName: string, domain: string) => ({
  clientId: `https://${domain}/client.json`,
  clientName,
  clientDomain: domain,
  redirectUri: `https://${domain}/callback`,
  redirectHost: domain,
});

describe("the consent page's name for a client", () => {
  it("vouches for an unknown app by the domain that publishes its metadata document", () => {
    expect(clientLabel(cimd("Acme Agent", "acme.example"))).toEqual({
      name: "Acme Agent",
      verified: true,
      note: "Its details are published by acme.example.",
    });
  });

  it("marks a metadata document that borrows a known client's name unverified, naming both (phishing)", () => {
    expect(clientLabel(cimd("Claude Code", "attacker.example"))).toEqual({
      name: "Claude Code",
      verified: false,
      note: "Unverified: attacker.example chose this name for its app. It resembles Claude Code, but that is not proven.",
    });
  });

  it("recognises a known client by its own metadata document URL", () => {
    const label = clientLabel({
      ...cimd("anything", "claude.ai"),
      clientId: "https://claude.ai/oauth/claude-code-client-metadata",
    });
    expect(label).toMatchObject({ name: "Claude Code", verified: true });
  });
});
