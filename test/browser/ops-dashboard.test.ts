/// <reference lib="dom" />
// page.evaluate callbacks run in Chromium, where the DOM exists.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChromium } from "./chromium.ts";
import { contrastRatio } from "./contrast.ts";
import { type SystemUnderTest, startSystemUnderTest } from "./edge-under-test.ts";

// The ops dashboard in Debian's headless Chromium against the whole local system (npm start's): signed in through the
// consent page and the local identity provider's account picker, as ops@example.com (in the admin group `ops`) or as
// dev@example.com (not). Screenshots land in test/browser/artifacts/.
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const ADMIN = "ops@example.com";
const NOT_ADMIN = "dev@example.com";

let system: SystemUnderTest;

beforeAll(async () => {
  system = await startSystemUnderTest();
  await mkdir(ARTIFACTS, { recursive: true });
});
afterAll(async () => system?.close());

/** From /ops through consent and the account picker, back to /ops as `account`. */
async function signIn(page: Page, account: string, path = "/ops"): Promise<void> {
  await page.goto(`${system.edgeUrl}${path}`);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: new RegExp(`<${account}>`) }).click();
  await page.waitForURL((url) => url.pathname === "/ops");
}

/**
 * 10,000 MCP calls over the last 20 hours in one statement: three servers, five tools, 25 users, four clients, one call
 * in 25 failing, delivered a second or two after they happened.
 */
async function insertTenThousandCalls(): Promise<void> {
  const client = new pg.Client({ connectionString: system.databaseUrl });
  await client.connect();
  try {
    await client.query(`INSERT INTO audit_events (id, time, kind, user_email, user_sub, client_id, server, method, tool, outcome, latency_ms, received_at)
      SELECT gen_random_uuid(), now() - n * interval '7 seconds', 'mcp.request', 'user' || (n % 25) || '@example.com', 'sub-' || (n % 25),
        (ARRAY['claude-code', 'cursor', 'vscode', 'chatgpt'])[1 + n % 4], (ARRAY['github', 'docs', 'everything'])[1 + n % 3],
        'tools/call', (ARRAY['search', 'create_issue', 'read_page', 'echo', 'add'])[1 + n % 5],
        CASE WHEN n % 25 = 0 THEN 'error' ELSE 'ok' END, 5 + (n % 200) * 1.5, now() - n * interval '7 seconds' + interval '1.5 seconds'
      FROM generate_series(1, 10000) AS n`);
  } finally {
    await client.end();
  }
}

/** The figure of a summary tile, by its label. */
/** The figure of the tile labelled exactly `label` (other tiles' sentences may name it: "of these calls"). */
const tile = (page: Page, label: string) =>
  page
    .locator(".tile", { has: page.locator("dt", { hasText: new RegExp(`^${label}$`) }) })
    .locator(".value")
    .innerText();

describe("the ops dashboard in Chromium", () => {
  it("shows an administrator the empty state before any call (screenshot kept)", async () => {
    const browser = await openChromium({ viewport: { width: 1200, height: 900 } });
    try {
      const page = await browser.newPage();
      await signIn(page, ADMIN);
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("MCP traffic, last 24 hours");
      expect(await page.locator(".empty-state").textContent()).toContain("No traffic in this window yet");
      expect(await tile(page, "Calls")).toBe("0");
      expect(await page.locator("header").innerText()).toContain(`Signed in as ${ADMIN}`);
      await page.screenshot({ path: `${ARTIFACTS}ops-empty.png`, fullPage: true });
    } finally {
      await browser.dispose();
    }
  });

  it("shows 10,000 calls per server, per tool and over time, in light and dark at AA contrast (screenshots kept)", async () => {
    await insertTenThousandCalls();
    for (const colorScheme of ["light", "dark"] as const) {
      const browser = await openChromium({ colorScheme, viewport: { width: 1200, height: 900 } });
      try {
        const page = await browser.newPage();
        await signIn(page, ADMIN);
        expect(await tile(page, "Calls")).toBe("10,000");
        expect(await tile(page, "Error rate")).toBe("4.0%");
        const servers = await page.getByRole("table", { name: "Calls per server" }).innerText();
        for (const server of ["github", "docs", "everything"]) expect(servers).toContain(server);
        expect(await page.getByRole("table", { name: "Busiest tools" }).locator("tbody tr").count()).toBe(15);
        expect(await page.getByRole("table", { name: "Top users" }).innerText()).toContain("@example.com");
        expect(await page.locator("svg.chart rect.calls").count()).toBe(24);
        expect(await page.getByRole("img", { name: /Calls over time: 10,000 calls and 400 errors/ }).count()).toBe(1);
        expect(await page.locator("#tail-table tbody tr").count()).toBe(20);
        await page.screenshot({ path: `${ARTIFACTS}ops-10000-events-${colorScheme}.png`, fullPage: true });
        const pairs = await page.evaluate(() => {
          const style = (selector: string) => getComputedStyle(document.querySelector(selector) as Element);
          const background = style("body").backgroundColor;
          const panel = style(".tile").backgroundColor;
          return [
            ["body text", style("h1").color, background],
            ["notes", style(".note").color, background],
            ["tile labels", style(".tile dt").color, panel],
            ["links", style("nav a:not([aria-current])").color, background],
          ];
        });
        for (const [what, foreground, background] of pairs as [string, string, string][]) {
          expect(contrastRatio(foreground, background), `${colorScheme} ${what}`).toBeGreaterThanOrEqual(4.5);
        }
      } finally {
        await browser.dispose();
      }
    }
  });

  it("fits its page navigation on a phone's width (360 px) (s24 hunt pages F10)", async () => {
    const browser = await openChromium({ viewport: { width: 360, height: 740 } });
    try {
      const page = await browser.newPage();
      await signIn(page, ADMIN);
      const nav = await page.evaluate(() => {
        const pages = document.querySelector("nav.pages") as HTMLElement;
        return { scroll: pages.scrollWidth, client: pages.clientWidth };
      });
      expect(nav.scroll).toBeLessThanOrEqual(nav.client);
    } finally {
      await browser.dispose();
    }
  });

  it("works with JavaScript turned off: sign-in, figures and window links", async () => {
    const browser = await openChromium({ javaScriptEnabled: false });
    try {
      const page = await browser.newPage();
      await signIn(page, ADMIN);
      await page.getByRole("link", { name: "last hour" }).click();
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("MCP traffic, last hour");
      expect(await page.locator("svg.chart rect.calls").count()).toBe(12);
    } finally {
      await browser.dispose();
    }
  });

  it("refuses a signed-in user outside the admin groups with a page saying what is needed and linking their own connections (screenshot kept)", async () => {
    const browser = await openChromium({ viewport: { width: 1000, height: 700 } });
    try {
      const page = await browser.newPage();
      const refused = page.waitForResponse(
        (response) => new URL(response.url()).pathname === "/ops" && response.status() === 403,
      );
      await signIn(page, NOT_ADMIN);
      await refused;
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This dashboard is for administrators");
      const text = await page.getByRole("main").innerText();
      expect(text).toContain(`You are signed in as ${NOT_ADMIN}, without the mcp:admin scope it needs.`);
      expect(text).toContain("ops@example.com");
      expect(await page.locator(".tile").count()).toBe(0);
      await page.screenshot({ path: `${ARTIFACTS}ops-refused.png`, fullPage: true });
      // What is theirs stays open to them: their own upstream connections.
      await page.getByRole("link", { name: "upstream connections" }).click();
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Your upstream connections");
    } finally {
      await browser.dispose();
    }
  });
});
