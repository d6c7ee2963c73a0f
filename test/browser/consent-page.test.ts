/// <reference lib="dom" />
// page.evaluate callbacks run in Chromium, where the DOM exists.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSENT_ARMING_MS } from "../../contract/consent-arming.ts";
import { SCOPE_DESCRIPTIONS } from "../../worker/auth/scope-descriptions.ts";
import { openChromium } from "./chromium.ts";
import { contrastRatio } from "./contrast.ts";
import { COMPANY, type EdgeUnderTest, SERVERS, startEdgeUnderTest } from "./edge-under-test.ts";

// The consent page in a real headless Chromium against the real edge (wrangler dev): what a person sees, with the
// keyboard alone, without JavaScript, in light and dark. Screenshots land in test/browser/artifacts/.
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback";

let edge: EdgeUnderTest;

beforeAll(async () => {
  edge = await startEdgeUnderTest();
  await mkdir(ARTIFACTS, { recursive: true });
});
afterAll(async () => edge?.close());

/** A fresh consent page URL for a client registered as Claude with claude.ai's callback (a verified client). */
async function consentUrl(): Promise<string> {
  const registration = await fetch(`${edge.edgeUrl}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Claude", redirect_uris: [CLAUDE_CALLBACK], token_endpoint_auth_method: "none" }),
  });
  const { client_id } = (await registration.json()) as { client_id: string };
  const params = new URLSearchParams({
    response_type: "code",
    client_id,
    redirect_uri: CLAUDE_CALLBACK,
    state: "browser-state",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    scope: "mcp offline_access",
    resource: `${edge.edgeUrl}/mcp`,
  });
  return `${edge.edgeUrl}/authorize?${params}`;
}

/**
 * Answers the app's callback in place (claude.ai is not reachable from here) once the sign-in that Allow starts has
 * gone through the identity provider and the edge: `reached` resolves with the callback URL the app would get.
 */
async function catchAppCallback(page: Page): Promise<{ reached: Promise<URL> }> {
  let arrived: (url: URL) => void = () => {};
  const reached = new Promise<URL>((resolve) => {
    arrived = resolve;
  });
  await page.context().route(`${CLAUDE_CALLBACK}?**`, async (route) => {
    arrived(new URL(route.request().url()));
    await route.fulfill({ contentType: "text/plain", body: "back at the app" });
  });
  return { reached };
}

describe("the consent page in Chromium", () => {
  it("shows the company, the app, where access goes, the servers and what each scope allows", async () => {
    const browser = await openChromium();
    try {
      const page = await browser.newPage();
      await page.goto(await consentUrl());
      expect(await page.getByRole("banner").textContent()).toBe(COMPANY);
      const heading = await page.getByRole("heading", { level: 1 }).textContent();
      expect(heading).toBe(`Allow Claude (claude.ai and Claude Desktop) to use ${COMPANY}'s MCP servers as you?`);
      const main = (await page.getByRole("main").innerText()).replace(/\s+/g, " ");
      expect(main).toContain("Access goes to claude.ai");
      expect(main).toContain(`Every server ${COMPANY}'s policy lets you use`);
      for (const server of SERVERS) expect(main).not.toContain(server);
      expect(main).toContain(`You will sign in with your ${COMPANY} account next.`);
      for (const scope of ["mcp", "offline_access"]) expect(main).toContain(SCOPE_DESCRIPTIONS[scope]);
    } finally {
      await browser.dispose();
    }
  });

  it("is approved with the keyboard alone (Tab to Allow, Enter), its focus visible", async () => {
    const browser = await openChromium();
    try {
      const page = await browser.newPage();
      await page.goto(await consentUrl());
      const { reached } = await catchAppCallback(page);
      let focused = "";
      for (let presses = 0; presses < 10 && focused !== "Allow"; presses++) {
        await page.keyboard.press("Tab");
        focused = await page.evaluate(() => document.activeElement?.textContent ?? "");
      }
      expect(focused).toBe("Allow");
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle);
      expect(outline).not.toBe("none");
      // A person reads the page before deciding; a decision within CONSENT_ARMING_MS of its making is refused.
      await page.waitForTimeout(CONSENT_ARMING_MS);
      await page.keyboard.press("Enter");
      const callback = await reached;
      expect(callback.searchParams.get("code")).toBeTruthy();
      expect(callback.searchParams.get("state")).toBe("browser-state");
    } finally {
      await browser.dispose();
    }
  });

  it("takes no click as it appears: a double-click started on another page does not approve it (s24 hunt pages F1)", async () => {
    const browser = await openChromium();
    try {
      const page = await browser.newPage();
      const { reached } = await catchAppCallback(page);
      let approved = false;
      void reached.then(() => {
        approved = true;
      });
      await page.goto(await consentUrl());
      // Where the second click of a double-click begun on another site lands: on Allow, the moment the page is there.
      const allow = (await page.getByRole("button", { name: "Allow" }).boundingBox()) as { x: number; y: number };
      await page.mouse.click(allow.x + 5, allow.y + 5);
      await page.waitForTimeout(CONSENT_ARMING_MS);
      expect(approved).toBe(false);
      expect(await page.getByRole("heading", { level: 1 }).textContent()).toMatch(/^Allow Claude/);
      // Read, then clicked: approved.
      await page.mouse.click(allow.x + 5, allow.y + 5);
      expect((await reached).searchParams.get("code")).toBeTruthy();
    } finally {
      await browser.dispose();
    }
  });

  it("takes no click again as it comes back into focus or view: a page loaded behind a pop-up is not approved (s24 review R2)", async () => {
    const browser = await openChromium();
    try {
      const page = await browser.newPage();
      const { reached } = await catchAppCallback(page);
      // A click taken posts the form at once: the request is the sign of it.
      let posted = false;
      page.on("request", (request) => {
        if (request.method() === "POST") posted = true;
      });
      await page.goto(await consentUrl());
      const allow = (await page.getByRole("button", { name: "Allow" }).boundingBox()) as { x: number; y: number };
      // Loaded long ago, out of sight: the first arming is over.
      await page.waitForTimeout(CONSENT_ARMING_MS + 100);
      // Headless Chromium moves no focus between windows, so the events a browser sends when the page is brought
      // forward are sent here; the script's answer to them is what is under test.
      for (const bringForward of [
        () => window.dispatchEvent(new Event("focus")),
        () => document.dispatchEvent(new Event("visibilitychange")),
      ]) {
        await page.evaluate(bringForward);
        await page.mouse.click(allow.x + 5, allow.y + 5);
        await page.waitForTimeout(CONSENT_ARMING_MS);
        expect(posted).toBe(false);
      }
      // Read, then clicked: approved.
      await page.mouse.click(allow.x + 5, allow.y + 5);
      expect((await reached).searchParams.get("code")).toBeTruthy();
    } finally {
      await browser.dispose();
    }
  });

  it("works with JavaScript turned off", async () => {
    const browser = await openChromium({ javaScriptEnabled: false });
    try {
      const page = await browser.newPage();
      await page.goto(await consentUrl());
      const { reached } = await catchAppCallback(page);
      await page.getByRole("button", { name: "Allow" }).click();
      expect((await reached).searchParams.get("code")).toBeTruthy();
    } finally {
      await browser.dispose();
    }
  });

  it.each(["light", "dark"] as const)(
    "keeps its text at 4.5:1 contrast or more in %s mode (screenshot kept)",
    async (colorScheme) => {
      const browser = await openChromium({ colorScheme, viewport: { width: 800, height: 900 } });
      try {
        const page = await browser.newPage();
        await page.goto(await consentUrl());
        await page.screenshot({ path: `${ARTIFACTS}consent-${colorScheme}.png`, fullPage: true });
        const pairs = await page.evaluate(() => {
          const style = (selector: string) => getComputedStyle(document.querySelector(selector) as Element);
          const background = style("body").backgroundColor;
          return {
            background,
            pairs: [
              ["body text", style("h1").color, background],
              ["secondary text", style(".note").color, background],
              ["labels", style("dt").color, background],
              ["Allow", style("button[value=approve]").color, style("button[value=approve]").backgroundColor],
              ["Deny", style("button[value=deny]").color, style("button[value=deny]").backgroundColor],
            ],
          };
        });
        expect(pairs.background).toBe(colorScheme === "light" ? "rgb(255, 255, 255)" : "rgb(13, 17, 23)");
        for (const [what, foreground, background] of pairs.pairs as [string, string, string][]) {
          expect(contrastRatio(foreground, background), `${what}: ${foreground} on ${background}`).toBeGreaterThanOrEqual(4.5);
        }
      } finally {
        await browser.dispose();
      }
    },
  );
});
