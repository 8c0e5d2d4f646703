// The browser end-to-end test (make test): real headless Chromium (Debian's package) driven by
// playwright-core through the demo page (infra/demo, built on the JavaScript client), served on
// another origin than the API.
// Checks what only a browser can: the cookie's attributes as the browser stored them, that page
// script cannot read it, CORS preflights for the allowed origin and another one, and that
// sign-out removes it. Saves a screenshot (SCREENSHOT, default .dev/artifacts/demo.png).
// Usage: DEMO_URL=http://localhost:9001 API_URL=http://localhost:9000 node tests/browser/demo.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

import { launch, steps } from "./harness.mjs";

const demo = process.env.DEMO_URL || "http://localhost:9001";
const apiUrl = process.env.API_URL || "http://localhost:9000";
const screenshot = process.env.SCREENSHOT || ".dev/artifacts/demo.png";
// Same port, other host name: another origin (and another site) than the demo page.
const otherOrigin = demo.replace("localhost", "127.0.0.1");

const browser = await launch();
const run = steps();
let crashed = false;
const step = run.step;

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sessionCookie = async () =>
    (await context.cookies(apiUrl)).find((c) => c.name.endsWith("session"));

  await step("the demo page loads on its own origin, signed out", async () => {
    await page.goto(`${demo}/?api=${encodeURIComponent(apiUrl)}`);
    await page.locator('#status[data-state="signed-out"]').waitFor();
    assert.notEqual(new URL(demo).origin, new URL(apiUrl).origin);
  });

  await step("sign in sets an HttpOnly, Secure, SameSite=Lax __Host- cookie", async () => {
    await page.fill("#user", "browser-user");
    await page.click("#sign-in");
    await page.locator('#status[data-state="signed-in"]').waitFor();
    assert.match(await page.textContent("#status"), /browser-user @ acme/);
    const cookie = await sessionCookie();
    assert.ok(cookie, "the browser stored the session cookie");
    assert.equal(cookie.name, "__Host-session");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(cookie.path, "/");
    assert.ok(!cookie.domain.startsWith("."), "host-only: no Domain attribute");
    assert.equal(cookie.value.length, 43);
  });

  await step("page script cannot see the cookie (document.cookie)", async () => {
    const cookie = await sessionCookie();
    const visible = await page.evaluate(() => document.cookie);
    assert.ok(!visible.includes(cookie.value), "the token is not in document.cookie");
    assert.ok(!visible.includes("session"), `document.cookie is ${JSON.stringify(visible)}`);
  });

  await step("show session, refresh (rotates the cookie), list devices", async () => {
    await page.click("#show");
    await page.locator('#out[data-status="200"]').waitFor();
    assert.match(await page.textContent("#out"), /"user_id": "browser-user"/);
    const before = (await sessionCookie()).value;
    await page.click("#refresh");
    await page.waitForFunction(() => document.querySelector("#out").textContent.startsWith("POST /sessions/current/refresh: 200"));
    const after = (await sessionCookie()).value;
    assert.notEqual(after, before, "refresh rotated the token");
    await page.click("#devices-btn");
    await page.locator('#devices li[data-current="true"]').waitFor();
    assert.equal(await page.locator("#devices li").count(), 1);
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot (signed in, devices listed): ${screenshot}`);
  });

  await step("a credentialed cross-origin PATCH passes the CORS preflight from the allowed origin", async () => {
    const result = await page.evaluate(async (api) => {
      const response = await fetch(`${api}/sessions/current`, {
        method: "PATCH",
        credentials: "include",
        headers: { "Content-Type": "application/merge-patch+json" },
        body: JSON.stringify({ data: { theme: "dark" } }),
      });
      return { status: response.status, body: await response.json() };
    }, apiUrl);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.data.theme, "dark");
  });

  await step("the same request from another origin fails its preflight and changes nothing", async () => {
    const other = await context.newPage();
    await other.goto(`${otherOrigin}/?api=${encodeURIComponent(apiUrl)}`);
    const outcome = await other.evaluate(async (api) => {
      try {
        await fetch(`${api}/sessions/current`, {
          method: "PATCH",
          credentials: "include",
          headers: { "Content-Type": "application/merge-patch+json" },
          body: JSON.stringify({ data: { theme: "hacked" } }),
        });
        return "sent";
      } catch (error) {
        return `blocked: ${error.name}`;
      }
    }, apiUrl);
    assert.equal(outcome, "blocked: TypeError");
    // What the browser saw: the preflight itself is refused for that origin, allowed for ours.
    const preflight = async (origin) =>
      context.request.fetch(`${apiUrl}/sessions/current`, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "PATCH",
          "Access-Control-Request-Headers": "content-type",
        },
      });
    const refused = await preflight(new URL(otherOrigin).origin);
    assert.equal(refused.status(), 403);
    assert.equal(refused.headers()["access-control-allow-origin"], undefined);
    const allowed = await preflight(new URL(demo).origin);
    assert.equal(allowed.status(), 204);
    assert.equal(allowed.headers()["access-control-allow-origin"], new URL(demo).origin);
    assert.equal(allowed.headers()["access-control-allow-credentials"], "true");
    await other.close();
    await page.click("#show");
    await page.waitForFunction(() => document.querySelector("#out").textContent.includes('"theme": "dark"'));
  });

  await step("sign out removes the cookie", async () => {
    await page.click("#sign-out");
    await page.locator('#status[data-state="signed-out"]').waitFor();
    assert.equal(await sessionCookie(), undefined);
  });

  await step("remember me: the remember profile's cookie lasts 90 days, the default's 7", async () => {
    const daysLeft = async () => ((await sessionCookie()).expires * 1000 - Date.now()) / 86_400_000;
    await page.click("#sign-in");
    await page.locator('#status[data-state="signed-in"]').waitFor();
    const plain = await daysLeft();
    await page.click("#sign-out");
    await page.locator('#status[data-state="signed-out"]').waitFor();

    await page.check("#remember");
    await page.click("#sign-in");
    await page.locator('#status[data-state="signed-in"]').waitFor();
    const remembered = await daysLeft();
    await page.click("#devices-btn");
    await page.locator('#devices li[data-current="true"][data-profile="remember"]').waitFor();

    assert.ok(plain > 6.9 && plain <= 7, `default cookie: ${plain} days`);
    assert.ok(remembered > 89.9 && remembered <= 90, `remember cookie: ${remembered} days`);
  });
} catch {
  // A step failed (reported by it) or something around the steps did: either way, exit 1.
  crashed = true;
} finally {
  await browser.close();
}
process.exit(run.failed || crashed ? 1 : 0);
