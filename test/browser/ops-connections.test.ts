/// <reference lib="dom" />
// page.evaluate callbacks run in Chromium, where the DOM exists.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localKeyWrapper } from "../../aws/origin/vault/key-wrapper.ts";
import { TokenVault } from "../../aws/origin/vault/token-vault.ts";
import { openChromium } from "./chromium.ts";
import { contrastRatio } from "./contrast.ts";
import { type SystemUnderTest, startSystemUnderTest } from "./edge-under-test.ts";

// Users' upstream connections in /ops, in Debian's headless Chromium against the whole local system: a user who is
// not an administrator sees and revokes only their own; an administrator sees everyone's and revokes one server of a
// user, then all of another's (offboarding), without JavaScript. Screenshots land in test/browser/artifacts/.
// The tests run in order on the connections stored in beforeAll.
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const ADMIN = "ops@example.com";
const USER = { sub: "dev-user-1", email: "dev@example.com" }; // the local IdP's account in the group "engineering"
const tokenOf = (who: string, server: string) => `upstream-access-token-of-${who}-for-${server}`;

let system: SystemUnderTest;
let pool: pg.Pool;

beforeAll(async () => {
  system = await startSystemUnderTest();
  await mkdir(ARTIFACTS, { recursive: true });
  pool = new pg.Pool({ connectionString: system.databaseUrl, max: 1 });
  // Sealed with a key of this test's own: listing and revoking never open a token.
  const vault = new TokenVault(pool, localKeyWrapper(randomBytes(32)));
  const owners = [
    { ...USER, server: "crm" },
    { ...USER, server: "wiki" },
    { sub: "sub-ada", email: "ada@example.com", server: "crm" },
    { sub: "sub-bo", email: "bo@example.com", server: "notes" },
  ];
  for (const owner of owners)
    await vault.put(owner, {
      accessToken: tokenOf(owner.email, owner.server),
      refreshToken: `refresh-${tokenOf(owner.email, owner.server)}`,
      client: { client_id: "gateway" },
      issuer: "https://as.example",
      expiresAt: Date.parse("2030-01-01T12:00:00Z"),
    });
});
afterAll(async () => {
  await pool?.end();
  await system?.close();
});

/** Signs in to /ops as `email` (the sign-in lands on /ops), then opens the connections. */
async function openConnections(page: Page, email: string): Promise<void> {
  await page.goto(`${system.edgeUrl}/ops`);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: new RegExp(`<${email}>`) }).click();
  await page.waitForURL((url) => url.pathname === "/ops");
  await page.goto(`${system.edgeUrl}/ops/connections`);
}

const stored = async () =>
  (await pool.query("SELECT user_email, server FROM upstream_tokens ORDER BY user_email, server")).rows.map(
    (row) => `${row.user_email} ${row.server}`,
  );
const revocations = async () =>
  (await pool.query("SELECT user_email, server, client_id FROM audit_events WHERE kind = 'upstream.revoked' ORDER BY time")).rows;

/** The server column of a table's rows. */
const servers = async (page: Page, table: string) =>
  page.getByRole("table", { name: table }).locator("tbody tr td:first-child").allInnerTexts();

describe("upstream connections in /ops in Chromium", () => {
  it("shows a user who is not an administrator their own connections only, and revokes one (screenshot kept)", async () => {
    const browser = await openChromium({ javaScriptEnabled: false, viewport: { width: 1100, height: 700 } });
    try {
      const page = await browser.newPage();
      await openConnections(page, USER.email);
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Your upstream connections");
      expect(await page.getByRole("navigation", { name: "Dashboard pages" }).count()).toBe(0);
      expect(await servers(page, "Your connections")).toEqual(["crm", "wiki"]);
      const text = await page.locator("body").innerText();
      expect(text).not.toContain("ada@example.com");
      expect(text).not.toContain("upstream-access-token");
      expect(text).toContain("2030-01-01 12:00");
      await page.screenshot({ path: `${ARTIFACTS}ops-connections-own.png`, fullPage: true });

      await page.getByRole("button", { name: `Revoke wiki for ${USER.email}` }).click();
      await page.waitForURL((url) => url.pathname === "/ops/connections");
      expect(await page.getByRole("status").innerText()).toBe(`Revoked ${USER.email}'s connection to wiki (1 removed).`);
      expect(await servers(page, "Your connections")).toEqual(["crm"]);
    } finally {
      await browser.dispose();
    }
    expect(await stored()).toEqual(["ada@example.com crm", "bo@example.com notes", "dev@example.com crm"]);
    expect(await revocations()).toEqual([{ user_email: USER.email, server: "wiki", client_id: `operator:${USER.email}` }]);
  });

  it("shows an administrator every user's, in light and dark at AA contrast (screenshots kept)", async () => {
    for (const colorScheme of ["light", "dark"] as const) {
      const browser = await openChromium({ colorScheme, viewport: { width: 1100, height: 900 } });
      try {
        const page = await browser.newPage();
        await openConnections(page, ADMIN);
        expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Upstream connections");
        const current = page.getByRole("navigation", { name: "Dashboard pages" }).locator("[aria-current=page]");
        expect(await current.innerText()).toBe("Upstream connections");
        expect(await page.getByRole("heading", { level: 2 }).allInnerTexts()).toEqual([
          "ada@example.com",
          "bo@example.com",
          USER.email,
        ]);
        expect(await servers(page, "Connections of bo@example.com")).toEqual(["notes"]);
        expect(await page.locator("body").innerText()).not.toContain("upstream-access-token");
        await page.screenshot({ path: `${ARTIFACTS}ops-connections-${colorScheme}.png`, fullPage: true });
        const pairs = await page.evaluate(() => {
          const style = (selector: string) => getComputedStyle(document.querySelector(selector) as Element);
          return [
            ["revoke one", style("td form.revoke button").color, style("td form.revoke button").backgroundColor],
            ["revoke all", style("section > form.revoke button").color, style("section > form.revoke button").backgroundColor],
            ["table text", style("td").color, style("body").backgroundColor],
          ];
        });
        for (const [what, foreground, background] of pairs as [string, string, string][])
          expect(contrastRatio(foreground, background), `${colorScheme} ${what}`).toBeGreaterThanOrEqual(4.5);
      } finally {
        await browser.dispose();
      }
    }
  });

  it("revokes one server of a user, then all of another's, from the page without JavaScript, audited", async () => {
    const browser = await openChromium({ javaScriptEnabled: false });
    try {
      const page = await browser.newPage();
      await openConnections(page, ADMIN);
      await page.getByRole("button", { name: "Revoke crm for ada@example.com" }).click();
      await page.waitForURL((url) => url.pathname === "/ops/connections");
      expect(await page.getByRole("status").innerText()).toBe("Revoked ada@example.com's connection to crm (1 removed).");
      await page.getByRole("button", { name: "Revoke all of this user's connections: bo@example.com" }).click();
      await page.waitForURL((url) => url.pathname === "/ops/connections");
      expect(await page.getByRole("status").innerText()).toBe("Revoked every connection of bo@example.com (1 removed).");
      expect(await page.getByRole("heading", { level: 2 }).allInnerTexts()).toEqual([USER.email]);
    } finally {
      await browser.dispose();
    }
    expect(await stored()).toEqual(["dev@example.com crm"]);
    expect((await revocations()).slice(1)).toEqual([
      { user_email: "ada@example.com", server: "crm", client_id: `operator:${ADMIN}` },
      { user_email: "bo@example.com", server: null, client_id: `operator:${ADMIN}` },
    ]);
  });
});
