import { CimdFetchError } from "@cloudflare/workers-oauth-provider";
import { describe, expect, it } from "vitest";
import { cimdFailure, cimdFetchFailurePage } from "../../worker/auth/cimd/fetch-failure-page.ts";

// s22 clients hunt F3: what the sign-in page says when a client's metadata document could not be had, read from the
// library's messages (the ones cimd.test.ts cannot provoke through a real fetch).
describe("a metadata document that could not be had", () => {
  it.each([
    ["Client metadata fetch timed out after 10000ms", { kind: "timeout", transient: true }],
    ["Failed to fetch client metadata: HTTP 503", { kind: "http", status: 503, transient: true }],
    ["Failed to fetch client metadata: HTTP 429", { kind: "http", status: 429, transient: true }],
    ["Failed to fetch client metadata: HTTP 403", { kind: "http", status: 403, transient: false }],
    ["Network connection lost.", { kind: "connection", transient: false }],
    ["internal error; reference = f34u43ap4gq2i5jc5mgeaem8", { kind: "connection", transient: false }],
    ["DNS lookup failed", { kind: "dns", transient: false }],
    ["TLS peer's certificate is not trusted", { kind: "tls", transient: false }],
    ["Client Identifier URL must not contain userinfo", { kind: "url", transient: false }],
    ["Client Identifier URL must not contain a fragment", { kind: "url", transient: false }],
    ["Client metadata response is not valid JSON", { kind: "document", transient: false }],
    ["Response exceeded size limit of 5120 bytes", { kind: "document", transient: false }],
    ['client_id "https://a.example/x" does not match metadata URL "https://b.example/y"', { kind: "document", transient: false }],
    ["client_name is required and must not be empty", { kind: "document", transient: false }],
    ["Redirect URI must use https, or http on a loopback host", { kind: "document", transient: false }],
    ["private_key_jwt requires jwks or jwks_uri", { kind: "document", transient: false }],
  ])("reads %j as %j", (detail, failure) => {
    expect(cimdFailure(detail)).toEqual(failure);
  });

  it("says a failure that may pass may pass, and names no more of the library's message than its kind", async () => {
    const url = "https://app.example/oauth/client.json";
    const busy = await cimdFetchFailurePage(
      new CimdFetchError(url, new Error("Failed to fetch client metadata: HTTP 502")),
    ).text();
    expect(busy).toContain("HTTP status 502");
    expect(busy).toContain("This may pass");
    const odd = await cimdFetchFailurePage(new CimdFetchError(url, new Error("internal error; reference = secret-ish"))).text();
    expect(odd).toContain(url);
    expect(odd).not.toContain("secret-ish");
    expect(odd).toContain("Starting again will not help");
  });
});
