// The server guards of clients/js (`@session-service/client/server`) against the real local
// stack (make test): an app behind sessionMiddleware on node:http (the Express/Connect
// signature) and a Web `Request` handler behind withSession, both asking the functions behind
// cargo lambda watch. Usage: API_URL=http://localhost:9000 ORIGIN=http://localhost:9001
// node tests/node/guards.mjs (ORIGIN: the demo server, which mints the login tickets and is an
// allowed origin).
import assert from "node:assert/strict";
import { createServer } from "node:http";

import { sessionMiddleware, withSession } from "../../clients/js/dist/source/server.js";
import { steps } from "../steps.mjs";

const api = process.env.API_URL || "http://localhost:9000";
const origin = process.env.ORIGIN || "http://localhost:9001";
const run = steps();
// Every step runs; a failed one is reported and counted, and the next one still runs.
const step = (name, body) => run.step(name, body).catch(() => {});

/** Signs `user` in; the session cookie's `name=value`. */
async function signIn(user) {
  // A login ticket from the demo server (ORIGIN), as the demo page gets one.
  const { id_token: ticket } = await (
    await fetch(`${origin}/dev-login`, { method: "POST", body: JSON.stringify({ user }) })
  ).json();
  const response = await fetch(`${api}/sessions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ticket}`, Origin: origin },
  });
  assert.equal(response.status, 201);
  return response.headers.getSetCookie()[0].split(";")[0];
}

/** An app behind the middleware, answering `{user}`; `get(cookie)` calls it. */
async function expressApp(apiUrl, options = {}) {
  const guard = sessionMiddleware({ apiUrl, ...options });
  const server = createServer((req, res) =>
    guard(req, res, () => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ user: req.session.user_id }));
    }),
  );
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/orders`;
  return {
    get: (cookie) => fetch(url, { headers: cookie ? { Cookie: cookie } : {} }),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const app = await expressApp(api);
try {
  await step("Express-style middleware: signed in reaches the app, signed out is a JSON 401", async () => {
    const cookie = await signIn("guard-user");
    const signedIn = await app.get(cookie);
    assert.equal(signedIn.status, 200);
    assert.deepEqual(await signedIn.json(), { user: "guard-user" });
    const signedOut = await app.get();
    assert.equal(signedOut.status, 401);
    assert.equal((await signedOut.json()).error.code, "unauthenticated");
  });

  await step("a rotated cookie is passed through to the caller", async () => {
    const cookie = await signIn("guard-rotation");
    const refreshed = await fetch(`${api}/sessions/current/refresh`, {
      method: "POST",
      headers: { Cookie: cookie, Origin: origin },
    });
    assert.equal(refreshed.status, 200);
    const successor = refreshed.headers.getSetCookie()[0].split(";")[0];
    // The old cookie, within its grace window: the session API answers with the successor.
    const answer = await app.get(cookie);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.headers.getSetCookie().map((c) => c.split(";")[0]), [successor]);
  });

  await step("a revoked session is refused on the next request, with the clearing cookie", async () => {
    const cookie = await signIn("guard-revoked");
    assert.equal((await app.get(cookie)).status, 200);
    const signOut = await fetch(`${api}/sessions/current`, { method: "DELETE", headers: { Cookie: cookie, Origin: origin } });
    assert.equal(signOut.status, 204);
    const refused = await app.get(cookie);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.getSetCookie()[0], /Max-Age=0/);
  });

  await step("with the micro-cache, a revoked session is refused once maxStaleness has passed", async () => {
    const cached = await expressApp(api, { maxStaleness: 1_000 });
    try {
      const cookie = await signIn("guard-cached");
      assert.equal((await cached.get(cookie)).status, 200);
      await fetch(`${api}/sessions/current`, { method: "DELETE", headers: { Cookie: cookie, Origin: origin } });
      assert.equal((await cached.get(cookie)).status, 200, "within maxStaleness: the cached verdict");
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      assert.equal((await cached.get(cookie)).status, 401, "after it: refused");
    } finally {
      cached.close();
    }
  });

  await step("a Web Request handler behind withSession", async () => {
    const handler = withSession((_request, session) => Response.json({ user: session.user_id }), { apiUrl: api });
    const cookie = await signIn("guard-web");
    const answer = await handler(new Request("https://app.example/orders", { headers: { Cookie: cookie } }));
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { user: "guard-web" });
    const anonymous = await handler(new Request("https://app.example/orders"));
    assert.equal(anonymous.status, 401);
  });

  await step("the session API down is a 503 with Retry-After, never a sign-out", async () => {
    const down = await expressApp("http://127.0.0.1:9", { timeout: 1_000 });
    try {
      const cookie = await signIn("guard-down");
      const answer = await down.get(cookie);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get("retry-after"), "1");
      assert.deepEqual(answer.headers.getSetCookie(), [], "the cookie is kept");
    } finally {
      down.close();
    }
  });
} finally {
  app.close();
}
console.log(run.failed ? "# guards test failed" : "# guards test passed");
process.exit(run.failed ? 1 : 0);
