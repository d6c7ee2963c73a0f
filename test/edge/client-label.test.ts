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
      alarm: false,
    });
  });

  it("marks a metadata document that borrows a known client's name unverified, naming both (phishing)", () => {
    expect(clientLabel(cimd("Claude Code", "attacker.example"))).toEqual({
      name: "Claude Code",
      verified: false,
      note: "Unverified: attacker.example chose this name for its app. It resembles Claude Code, but that is not proven.",
      alarm: true,
    });
  });

  it("recognises a known client by its own metadata document URL", () => {
    const label = clientLabel({
      ...cimd("anything", "claude.ai"),
      clientId: "https://claude.ai/oauth/claude-code-client-metadata",
    });
    expect(label).toMatchObject({ name: "Claude Code", verified: true });
  });

  // An app on this computer proves no name; the page's warning about this computer is the check (s24 hunt pages F7).
  const local = (clientName: string, redirectUri: string) => ({
    clientId: "a-registered-id",
    clientName,
    redirectUri,
    redirectHost: URL.canParse(redirectUri) ? new URL(redirectUri).host : "",
  });
  const NEUTRAL = { verified: false, alarm: false, note: "Its name is its own: an app on this computer cannot prove it." };

  it("names an app on this computer neutrally, a known one that signs in there included", () => {
    expect(clientLabel(local("Acme Agent", "http://127.0.0.1:8123/cb"))).toEqual({ name: "Acme Agent", ...NEUTRAL });
    expect(clientLabel(local("Claude Code", "http://localhost:53111/callback"))).toEqual({ name: "Claude Code", ...NEUTRAL });
    expect(clientLabel(local("Cursor", "cursor://anysphere.cursor-mcp/oauth/callback"))).toEqual({ name: "Cursor", ...NEUTRAL });
  });

  it("keeps the alarm for a vendor's name whose app never signs in through this computer, and for a foreign https host", () => {
    expect(clientLabel(local("Claude", "http://127.0.0.1:8123/cb"))).toMatchObject({ alarm: true, verified: false });
    // A scheme proves nothing unless the table lists it for that app (s25 review F1: schemes that open a web page).
    expect(clientLabel(local("Cursor", "acme-agent://cb"))).toMatchObject({
      alarm: true,
      note: "Unverified: the app chose this name itself. It resembles Cursor, but that is not proven.",
    });
    expect(clientLabel(local("Acme Agent", "acme-agent://cb"))).toMatchObject({ alarm: true });
    expect(clientLabel(local("Acme Agent", "https://acme.example/cb"))).toMatchObject({
      alarm: true,
      note: "Unverified: the app chose this name itself.",
    });
  });
});
