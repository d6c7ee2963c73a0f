import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChromium } from "./chromium.ts";
import { type SystemUnderTest, startSystemUnderTest } from "./edge-under-test.ts";

// The dashboard's sign-in and sign-out in Debian's headless Chromium against the whole local system (s24 hunt pages
// F5, F9): two tabs signing in at once, each back on the page it asked for; a sign-out that ends on a GET page.
const ADMIN = "ops@example.com";

let system: SystemUnderTest;

beforeAll(async () => {
  system = await startSystemUnderTest();
});
afterAll(async () => system?.close());

/** Continue on the dashboard's sign-in page, the account picker if the IdP shows it, and back on the edge at `landing`. */
async function allowAndLand(page: Page, landing: string): Promise<void> {
  await page.getByRole("button", { name: "Continue" }).click();
  // The IdP remembers the browser after its first sign-in: it may not ask again.
  page
    .getByRole("button", { name: new RegExp(`<${ADMIN}>`) })
    .click({ timeout: 5_000 })
    .catch(() => {});
  await page.waitForURL((url) => url.pathname === landing);
}

describe("the dashboard's sign-in in Chromium", () => {
  it("signs two tabs in at once, each back on the page it asked for", async () => {
    const browser = await openChromium();
    try {
      const [pins, signIns] = [await browser.newPage(), await browser.newPage()];
      // Both wait at the consent page before either finishes: with one cookie per browser, the first failed.
      await pins.goto(`${system.edgeUrl}/ops/pins`);
      await signIns.goto(`${system.edgeUrl}/ops/sign-ins`);
      await allowAndLand(pins, "/ops/pins");
      await allowAndLand(signIns, "/ops/sign-ins");
      expect(await signIns.getByRole("heading", { level: 1 }).innerText()).not.toContain("Sign-in failed");
      expect(await pins.getByRole("heading", { level: 1 }).innerText()).not.toContain("Sign-in failed");
    } finally {
      await browser.dispose();
    }
  });

  it("signs out to a GET page, which a reload shows again, and which a GET of /ops/sign-out reaches", async () => {
    const browser = await openChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${system.edgeUrl}/ops`);
      await allowAndLand(page, "/ops");
      await page.getByRole("button", { name: "sign out" }).click();
      await page.waitForURL((url) => url.pathname === "/ops/signed-out");
      expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe("You are signed out");
      const reloaded = await page.reload();
      expect(reloaded?.request().method()).toBe("GET");
      expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe("You are signed out");
      await page.goto(`${system.edgeUrl}/ops/sign-out`);
      expect(new URL(page.url()).pathname).toBe("/ops/signed-out");
      expect(await page.getByRole("heading", { level: 1 }).innerText()).toBe("You are signed out");
    } finally {
      await browser.dispose();
    }
  });
});
