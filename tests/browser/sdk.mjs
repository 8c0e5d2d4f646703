// The JavaScript client (clients/js) in real headless Chromium against the real local stack
// (make test): pages of infra/demo/sdk.html (and one of infra/demo/react.html, the React
// bindings), on another origin than the API, each a tab of one browser (shared cookies,
// BroadcastChannel, Web Locks, localStorage).
// Usage: DEMO_URL=http://localhost:9001 API_URL=http://localhost:9000 node tests/browser/sdk.mjs
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";

import { launch, steps } from "./harness.mjs";

const demo = process.env.DEMO_URL || "http://localhost:9001";
const apiUrl = process.env.API_URL || "http://localhost:9000";
const page_url = `${demo}/sdk.html?api=${encodeURIComponent(apiUrl)}`;

const browser = await launch();
const run = steps();
const step = run.step;

/** A tab showing the client's state `status` (and waiting for it). */
const tab = async (context, status) => {
  const page = await context.newPage();
  await page.goto(page_url);
  await page.locator(`#status[data-state="${status}"]`).waitFor({ timeout: 10_000 });
  return page;
};

const sessionOf = (page) => page.evaluate(() => window.sessions.state.session ?? null);

/** One DynamoDB Local call (it takes the dummy credentials without checking the signature). */
async function dynamodb(target, body) {
  const answer = await fetch(process.env.AWS_ENDPOINT_URL_DYNAMODB, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": `DynamoDB_20120810.${target}`,
      Authorization: "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    },
    body: JSON.stringify(body),
  });
  const json = await answer.json();
  assert.ok(answer.ok, JSON.stringify(json));
  return json;
}

/**
 * An impersonation ticket for `user`, its grant written as `POST /admin/users/{user}/impersonation`
 * writes it (README "Data model"): locally no request is IAM-signed, so the test plays the
 * administrator at the table.
 */
async function impersonationTicket(user, actor) {
  const ticket = randomBytes(32).toString("base64url");
  const hash = createHash("sha256").update(ticket).digest("base64url");
  const expires = Date.now() + 5 * 60_000;
  await dynamodb("PutItem", {
    TableName: process.env.SESSION_TABLE_NAME,
    Item: {
      pk: { S: `IMPERSONATION#${hash}` },
      sk: { S: "GRANT" },
      kind: { S: "impersonation" },
      user_id: { S: user },
      actor: { S: actor.principal },
      actor_reason: { S: actor.reason },
      expires_at: { N: String(expires) },
      ttl: { N: String(Math.ceil(expires / 1000)) },
    },
  });
  return ticket;
}

/**
 * The rotations the server made for `user`: its retired token items (one per rotation), read
 * straight from the table on DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB, SESSION_TABLE_NAME, as
 * make test exports them).
 */
async function rotationsOf(user) {
  let count = 0;
  let start;
  do {
    const page = await dynamodb("Scan", {
      TableName: process.env.SESSION_TABLE_NAME,
      ConsistentRead: true,
      ...(start ? { ExclusiveStartKey: start } : {}),
    });
    count += page.Items.filter((item) => item.kind?.S === "retired" && item.user_id?.S === user).length;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

try {
  /** Counts each page's requests to the session API from now on. */
  const countRequests = (pages) =>
    pages.map((page) => {
      const count = { n: 0 };
      page.on("request", (request) => {
        if (request.url().startsWith(apiUrl)) count.n += 1;
      });
      return count;
    });
  const context = await browser.newContext();
  const cookie = async () => (await context.cookies(apiUrl)).find((c) => c.name.endsWith("session"))?.value;
  let first;

  let watching;
  let react;
  await step("sign in through the client, reload, still signed in; another tab sees it within a second", async () => {
    first = await tab(context, "signed-out");
    watching = await tab(context, "signed-out");
    // A tab on the React bindings (infra/demo/react.html): useSession() follows the others too.
    react = await context.newPage();
    await react.goto(`${demo}/react.html?api=${encodeURIComponent(apiUrl)}`);
    await react.locator('#react-status[data-state="signed-out"]').waitFor({ timeout: 10_000 });
    // From here on the other tabs must learn of the sign-in by the broadcast, not by asking.
    const asked = countRequests([watching, react]);
    const signedIn = await first.evaluate(async () => {
      const session = await window.sessions.signIn(await window.devLogin("sdk-user"), { data: { cart: 0 } });
      return session.user_id;
    });
    assert.equal(signedIn, "sdk-user");
    assert.ok(await cookie(), "the HttpOnly cookie is set");
    await watching.locator('#status[data-state="signed-in"]').waitFor({ timeout: 1_000 });
    await react.locator('#react-status[data-state="signed-in"]').waitFor({ timeout: 1_000 });
    assert.match(await react.textContent("#react-status"), /signed in as sdk-user/);
    assert.deepEqual(asked.map((c) => c.n), [0, 0], "the other tabs learned it without a request");
    await first.reload();
    await first.locator('#status[data-state="signed-in"]').waitFor({ timeout: 10_000 });
  });

  const tabs = [first, watching];
  let demoToken;
  await step("five tabs refreshing at the same instant: one rotation, all stay signed in", async () => {
    for (let i = 2; i < 5; i++) tabs.push(await tab(context, "signed-in"));
    const before = await sessionOf(first);
    const cookieBefore = await cookie();
    assert.equal(await rotationsOf("sdk-user"), 0);

    const answers = await Promise.all(tabs.map((page) => page.evaluate(() => window.sessions.refresh())));

    assert.equal(await rotationsOf("sdk-user"), 1, "the server made one rotation");
    assert.deepEqual(new Set(answers.map((session) => session?.session_id)), new Set([before.session_id]));
    assert.notEqual(await cookie(), cookieBefore, "the cookie rotated");
    for (const page of tabs) {
      assert.equal((await sessionOf(page))?.session_id, before.session_id, "every tab still signed in");
    }
    const devices = await first.evaluate(() => window.sessions.devices());
    assert.equal(devices.length, 1, "still one session");
  });

  await step("five tabs asking for a token for another service at once: one mint, every tab gets it", async () => {
    const mints = { n: 0 };
    // Which tab asked, and what it heard, when: said if the step fails.
    const heard = [];
    tabs.forEach((page, i) => {
      page.on("request", (request) => {
        if (request.url() !== `${apiUrl}/sessions/current/token`) return;
        mints.n += 1;
        heard.push(`tab ${i} asked at ${Date.now()}`);
      });
      page.on("response", (response) => {
        if (response.url() === `${apiUrl}/sessions/current/token`) heard.push(`tab ${i} got ${response.status()} at ${Date.now()}`);
      });
    });
    const tokens = await Promise.all(tabs.map((page) => page.evaluate(() => window.sessions.getToken({ audience: "demo-api" }))));
    assert.equal(mints.n, 1, `one POST /sessions/current/token across the tabs (${heard.join("; ")})`);
    assert.equal(new Set(tokens).size, 1);
    const claims = JSON.parse(Buffer.from(tokens[0].split(".")[1], "base64url").toString());
    assert.equal(claims.sub, "sdk-user");
    assert.equal(claims.aud, "demo-api");
    // Kept: asked again in any tab, no request.
    assert.equal(await tabs[3].evaluate(() => window.sessions.getToken({ audience: "demo-api" })), tokens[0]);
    assert.equal(mints.n, 1);
    demoToken = tokens[0];
  });

  await step("getToken's code failing to load (a network blip) is loaded again by the next call", async () => {
    const page = await context.newPage();
    const loads = { n: 0 };
    await page.route("**/sdk/service-tokens.js", (route) => (loads.n++ === 0 ? route.abort() : route.continue()));
    await page.goto(page_url);
    await page.locator('#status[data-state="signed-in"]').waitFor({ timeout: 10_000 });
    const ask = () => page.evaluate(() => window.sessions.getToken({ audience: "demo-api" }).catch((e) => `failed: ${e.name}`));

    assert.equal(await ask(), "failed: TypeError", "the first call fails with the load");
    assert.equal(await ask(), demoToken, "the next loads it and takes the tabs' token");
    assert.equal(loads.n, 2);
    assert.equal(await page.evaluate(() => window.sessions.state.status), "signed-in", "nobody signed out");
    await page.close();
  });

  await step("a conflicting data update is resolved by retryOnConflict", async () => {
    const [a, b] = tabs;
    const stale = (await sessionOf(b)).version;
    const [, , c] = tabs;
    const askedByC = countRequests([c]);
    await a.evaluate(() => window.sessions.updateData({ cart: 1 }));

    const refused = await b.evaluate(
      (version) => window.sessions.updateData({ coupon: "x" }, { version }).then(() => null, (e) => e.status),
      stale,
    );
    const merged = await b.evaluate(
      (version) => window.sessions.updateData({ coupon: "x" }, { version, retryOnConflict: true }),
      stale,
    );

    assert.equal(refused, 412);
    assert.deepEqual(merged.data, { cart: 1, coupon: "x" });
    // The other tabs learned the data without asking.
    await c.waitForFunction(() => window.sessions.state.session?.data?.coupon === "x", null, { timeout: 1_000 });
    assert.deepEqual(askedByC.map((count) => count.n), [0], "without a request of its own");
  });

  await step("the security history shows this sign-in and its rotation, newest first, a page at a time", async () => {
    const [page] = tabs;
    const me = await sessionOf(page);
    // The audit trail is filed from the table's stream (the stream pump, session-events): wait for it.
    const deadline = Date.now() + 20_000;
    let history;
    do {
      history = await page.evaluate(() => window.sessions.securityHistory({ limit: 1 }));
      if (history.events.length > 0 && history.nextCursor !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    } while (Date.now() < deadline);
    assert.equal(history.events.length, 1, "one per page");
    assert.ok(history.nextCursor, "more than one entry: the sign-in and the rotation");
    const all = [...history.events];
    let cursor = history.nextCursor;
    while (cursor) {
      const next = await page.evaluate((c) => window.sessions.securityHistory({ limit: 1, cursor: c }), cursor);
      all.push(...next.events);
      cursor = next.nextCursor;
    }
    const ours = all.filter((event) => event.session_id === me.session_id).map((event) => event.type);
    assert.equal(ours.at(-1), "session.created", `oldest last: ${ours}`);
    assert.ok(ours.includes("session.rotated"), `the refresh of five tabs: ${ours}`);
    const times = all.map((event) => event.time);
    assert.deepEqual(times, [...times].sort().reverse(), "newest first");
    assert.equal(await page.evaluate(() => window.sessions.state.status), "signed-in");
  });

  await step("DynamoDB frozen mid-session: 503s, never signed out, working again when it is back", async () => {
    // make test exports the PID of the DynamoDB Local it started (none when it was given one).
    const pid = Number(process.env.DYNAMODB_PID);
    if (!pid) {
      console.log("# skipped the freeze: this DynamoDB was not started by make test");
      return;
    }
    const [page, other] = tabs;
    process.kill(pid, "SIGSTOP");
    let outcome;
    try {
      outcome = await page.evaluate(() =>
        window.sessions.current({ force: true }).then(
          () => "answered",
          (error) => `${error.name} ${error.status} ${error.code}`,
        ),
      );
    } finally {
      process.kill(pid, "SIGCONT");
    }
    assert.equal(outcome, "SessionApiError 503 service_unavailable", "retried, then failed: not signed out");
    for (const tab of [page, other]) {
      assert.equal(await tab.evaluate(() => window.sessions.state.status), "signed-in");
    }
    assert.ok(await cookie(), "the cookie is kept");
    const back = await page.evaluate(() => window.sessions.current({ force: true }));
    assert.equal(back.user_id, "sdk-user");
  });

  await step("sign out in one tab: the others show signed out within a second", async () => {
    const [signingOut, ...others] = tabs;
    const requestsBefore = countRequests(others);

    await signingOut.evaluate(() => window.sessions.signOut());

    for (const page of others) {
      await page.locator('#status[data-state="signed-out"][data-reason="signed_out"]').waitFor({ timeout: 1_000 });
    }
    await react.locator('#react-status[data-state="signed-out"][data-reason="signed_out"]').waitFor({ timeout: 1_000 });
    assert.deepEqual(requestsBefore.map((c) => c.n), others.map(() => 0), "without a request of theirs");
    assert.equal(await cookie(), undefined, "the cookie is gone");
  });

  await step("a visitor's cart: nothing on page load, one guest session on the first writes of two tabs, two tabs signing in at once get one session with the cart", async () => {
    const visitor = await browser.newContext();
    const sessionCookie = async () => (await visitor.cookies(apiUrl)).find((c) => c.name.endsWith("session"));
    const visitorCookie = async () => (await sessionCookie())?.value;
    const [shop, other] = [await tab(visitor, "signed-out"), await tab(visitor, "signed-out")];
    const cartPage = await visitor.newPage();
    await cartPage.goto(`${demo}/react.html?api=${encodeURIComponent(apiUrl)}`);
    await cartPage.locator('#react-status[data-state="signed-out"]').waitFor({ timeout: 10_000 });
    const guestPosts = { n: 0 };
    for (const page of [shop, other, cartPage]) {
      page.on("request", (request) => {
        if (request.url() === `${apiUrl}/sessions/guest`) guestPosts.n += 1;
      });
    }
    await shop.reload();
    await shop.locator('#status[data-state="signed-out"]').waitFor({ timeout: 10_000 });
    assert.equal(guestPosts.n, 0, "no guest session for a visitor who stores nothing");
    assert.equal(await visitorCookie(), undefined);

    // Two tabs write at the same instant: one guest session holds both writes.
    const [guest, also] = await Promise.all([
      shop.evaluate(() => window.sessions.updateData({ cart: ["tea"] })),
      other.evaluate(() => window.sessions.updateData({ coupon: "x" })),
    ]);

    assert.equal(guest.guest, true);
    assert.equal(also.session_id, guest.session_id, "one guest session for the two tabs");
    assert.ok(guestPosts.n <= 2, "a tab that waited asks again and gets the first one's session");
    const guestCookie = await visitorCookie();
    const cookieName = (await sessionCookie())?.name;
    assert.ok(guestCookie, "the guest's HttpOnly cookie is set");
    await other.locator('#status[data-state="guest"]').waitFor({ timeout: 1_000 });
    await cartPage.locator('#react-status[data-state="guest"]').waitFor({ timeout: 1_000 });
    await cartPage.waitForFunction(() => document.querySelector("#react-status")?.textContent === 'guest with cart ["tea"]', null, { timeout: 1_000 });

    // Each tab brings its own login ticket, at the same instant, with the same guest cookie.
    const tickets = [await shop.evaluate(() => window.devLogin("cart-buyer")), await other.evaluate(() => window.devLogin("cart-buyer"))];
    const [a, b] = await Promise.all([
      shop.evaluate((t) => window.sessions.signIn(t), tickets[0]),
      other.evaluate((t) => window.sessions.signIn(t), tickets[1]),
    ]);

    assert.equal(a.session_id, b.session_id, "one signed-in session");
    assert.deepEqual(a.data, { cart: ["tea"], coupon: "x" });
    assert.equal(a.guest, false);
    await cartPage.locator('#react-status[data-state="signed-in"]').waitFor({ timeout: 1_000 });
    assert.notEqual(await visitorCookie(), guestCookie, "a new token, not the guest's");
    const devices = await shop.evaluate(() => window.sessions.devices());
    assert.equal(devices.length, 1);
    const replayed = await fetch(`${apiUrl}/sessions/current`, { headers: { Cookie: `${cookieName}=${guestCookie}` } });
    assert.equal(replayed.status, 401, "the guest token is refused");
    await visitor.close();
  });

  await step("support signs in with an impersonation ticket: the React page shows who acts, and the device list is refused", async () => {
    const actor = { principal: "arn:aws:iam::123456789012:role/support-console", reason: "case 4711" };
    const ticket = await impersonationTicket("sdk-user", actor);
    const support = await browser.newContext();
    const page = await support.newPage();
    await page.goto(`${demo}/react.html?api=${encodeURIComponent(apiUrl)}`);
    await page.locator('#react-status[data-state="signed-out"]').waitFor({ timeout: 10_000 });

    const session = await page.evaluate((t) => window.sessions.signIn(t, { impersonation: true }), ticket);

    assert.deepEqual(session.actor, actor);
    assert.equal(session.profile, "impersonation");
    await page.locator("#react-actor").waitFor({ timeout: 1_000 });
    assert.equal(await page.textContent("#react-actor"), `${actor.principal} acts for sdk-user: ${actor.reason}`);
    const refused = await page.evaluate(() => window.sessions.devices().then(() => null, (e) => e.code));
    assert.equal(refused, "impersonation_forbidden");
    assert.equal(await page.evaluate(() => window.sessions.state.status), "signed-in", "still signed in");
    const again = await page.evaluate((t) => window.sessions.signIn(t, { impersonation: true }).then(() => null, (e) => e.code), ticket);
    assert.equal(again, "impersonation_forbidden", "no new session over an impersonation's cookie");
    await support.close();
  });

  await step("a browser without Web Locks loads the lock fallback: five tabs refreshing at once, one rotation; a failed load is tried again", async () => {
    const old = await browser.newContext();
    // Browsers before 2022 (Safari 15.3, Firefox 95) have no navigator.locks.
    await old.addInitScript(() => Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined }));
    const fallbackLoads = { n: 0 };
    const refreshes = { n: 0 };
    old.on("request", (request) => {
      if (new URL(request.url()).pathname === "/sdk/channel-locks.js") fallbackLoads.n += 1;
      if (request.method() === "POST" && request.url() === `${apiUrl}/sessions/current/refresh`) refreshes.n += 1;
    });
    const signIn = await tab(old, "signed-out");
    assert.equal(await signIn.evaluate(() => navigator.locks), undefined);
    await signIn.evaluate(async () => window.sessions.signIn(await window.devLogin("old-browser-user")));
    const five = [signIn];
    for (let i = 1; i < 5; i++) five.push(await tab(old, "signed-in"));
    const before = await sessionOf(signIn);

    await Promise.all(five.map((page) => page.evaluate(() => window.sessions.refresh())));

    // Without a lock every tab would send its refresh (the server would still make one rotation).
    assert.equal(refreshes.n, 1, "one tab refreshed, the others took its result");
    assert.equal(await rotationsOf("old-browser-user"), 1, "the server made one rotation");
    assert.ok(fallbackLoads.n >= 1, "the channel lock was loaded");
    for (const page of five) {
      assert.equal((await sessionOf(page))?.session_id, before.session_id, "every tab still signed in");
    }

    // The fallback failing to load (a network blip) is loaded again by the next refresh.
    const blip = await old.newPage();
    const loads = { n: 0 };
    await blip.route("**/sdk/channel-locks.js", (route) => (loads.n++ === 0 ? route.abort() : route.continue()));
    await blip.goto(page_url);
    await blip.locator('#status[data-state="signed-in"]').waitFor({ timeout: 10_000 });
    const refresh = () => blip.evaluate(() => window.sessions.refresh().then((s) => s.session_id, (e) => `failed: ${e.name}`));
    assert.equal(await refresh(), "failed: TypeError", "the first refresh fails with the load");
    assert.equal(await refresh(), before.session_id, "the next loads it and refreshes");
    assert.equal(loads.n, 2);
    await old.close();
  });
} finally {
  await browser.close();
}
console.log(run.failed ? "# sdk browser test failed" : "# sdk browser test passed");
process.exit(run.failed ? 1 : 0);
