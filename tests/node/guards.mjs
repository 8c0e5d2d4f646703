// The server guards of clients/js (`@session-service/client/server`) against the real local
// stack (make test): an app behind sessionMiddleware on node:http (the Express/Connect
// signature) and a Web `Request` handler behind withSession, both asking the functions behind
// cargo lambda watch. Usage: API_URL=http://localhost:9000 ORIGIN=http://localhost:9001
// node tests/node/guards.mjs (ORIGIN: the demo server, which mints the login tickets and is an
// allowed origin).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

import { sessionMiddleware, withSession } from "../../clients/js/dist/source/server.js";
import { steps } from "../steps.mjs";
import { ticketIssuedAgo } from "../tickets.mjs";

const api = process.env.API_URL || "http://localhost:9000";
// The one-host front (the rewrite); its origin is one of the API's allowed origins.
const frontPort = Number(process.env.FRONT_PORT || 9400);
const expressPort = Number(process.env.EXPRESS_PORT || 9401);
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


/** Runs the README's Express example (clients/js/examples/express.mjs) on `port`. */
async function expressExample(port) {
  const child = spawn(process.execPath, [new URL("../../clients/js/examples/express.mjs", import.meta.url).pathname], {
    env: { ...process.env, PORT: String(port), SESSION_API_URL: api },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
    if (up) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error("the Express example did not start");
}

/**
 * One host, as a CloudFront behaviour or Next.js would serve it: the rewrites of the Next.js
 * example (next.config.mjs: /sessions/* to the session API), everything else to `app`.
 */
async function oneHost(port, app) {
  process.env.SESSION_API_URL = api;
  const { default: nextConfig } = await import("../../clients/js/examples/next/next.config.mjs");
  const rewrites = (await nextConfig.rewrites()).map(({ source, destination }) => {
    assert.ok(source.endsWith("/:path*") && destination.endsWith("/:path*"), source);
    return { prefix: source.slice(0, -"/:path*".length), target: destination.slice(0, -"/:path*".length) };
  });
  const server = createServer(async (req, res) => {
    const rule = rewrites.find(({ prefix }) => req.url === prefix || req.url.startsWith(`${prefix}/`) || req.url.startsWith(`${prefix}?`));
    const target = rule ? rule.target + req.url.slice(rule.prefix.length) : app + req.url;
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (!["host", "connection", "content-length"].includes(name)) headers.set(name, String(value));
    }
    const answer = await fetch(target, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
      redirect: "manual",
    });
    answer.headers.forEach((value, name) => {
      if (!["set-cookie", "content-length", "content-encoding", "transfer-encoding", "connection"].includes(name)) {
        res.setHeader(name, value);
      }
    });
    const cookies = answer.headers.getSetCookie();
    if (cookies.length) res.setHeader("Set-Cookie", cookies);
    res.statusCode = answer.status;
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://localhost:${port}`,
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

  await step("a guest session is refused with 403 guest_forbidden unless the guard allows guests", async () => {
    const created = await fetch(`${api}/sessions/guest`, {
      method: "POST",
      headers: { Origin: origin, "Content-Type": "application/json" },
      body: JSON.stringify({ data: { cart: ["tea"] } }),
    });
    assert.equal(created.status, 201);
    const guest = created.headers.getSetCookie()[0].split(";")[0];
    const strict = await expressApp(api);
    const lenient = await expressApp(api, { allowGuests: true });
    try {
      const refused = await strict.get(guest);
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).error.code, "guest_forbidden");
      const let_in = await lenient.get(guest);
      assert.equal(let_in.status, 200);
      assert.equal((await let_in.json()).user.startsWith("guest:"), true);
    } finally {
      strict.close();
      lenient.close();
    }
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

  await step("one host: sign-in through the rewrite sets a host-only __Host- cookie the Express example reads", async () => {
    const example = await expressExample(expressPort);
    const front = await oneHost(frontPort, `http://127.0.0.1:${expressPort}`);
    try {
      const { id_token: ticket } = await (
        await fetch(`${origin}/dev-login`, { method: "POST", body: JSON.stringify({ user: "one-host" }) })
      ).json();
      const signedIn = await fetch(`${front.url}/sessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Origin: front.url },
        body: JSON.stringify({ id_token: ticket }),
      });
      assert.equal(signedIn.status, 201);
      const [setCookie] = signedIn.headers.getSetCookie();
      assert.match(setCookie, /^__Host-session=/);
      assert.doesNotMatch(setCookie, /Domain=/i, "host-only: the browser sends it to this host alone");
      const cookie = setCookie.split(";")[0];

      const orders = await fetch(`${front.url}/api/orders`, { headers: { Cookie: cookie } });
      assert.equal(orders.status, 200);
      assert.deepEqual(await orders.json(), { user: "one-host", orders: [] });
      const page = await fetch(`${front.url}/account`, { headers: { Cookie: cookie } });
      assert.equal(await page.text(), "Signed in as one-host");
      const anonymousPage = await fetch(`${front.url}/account`, { redirect: "manual" });
      assert.equal(anonymousPage.status, 302);
      assert.equal(anonymousPage.headers.get("location"), "/sign-in");

      // Sign-out through the same host: the cookie's session is over for the backend too.
      const signOut = await fetch(`${front.url}/sessions/current`, {
        method: "DELETE",
        headers: { Cookie: cookie, Origin: front.url },
      });
      assert.equal(signOut.status, 204);
      const after = await fetch(`${front.url}/api/orders`, { headers: { Cookie: cookie } });
      assert.equal(after.status, 401);
      assert.match(after.headers.getSetCookie()[0], /^__Host-session=;.*Max-Age=0/);
    } finally {
      front.close();
      example.kill();
    }
  });

  await step("with maxAuthAge, a session whose sign-in is too old gets reauthentication_required and keeps its cookie", async () => {
    const strict = await expressApp(api, { maxAuthAge: 60 });
    const lenient = await expressApp(api, { maxAuthAge: 300 });
    try {
      // Signed in now, with a ticket issued four minutes ago: the proof is four minutes old
      // (the ticket's iat), not the sign-in's own time.
      const response = await fetch(`${api}/sessions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${ticketIssuedAgo("guard-fresh", 240)}`, Origin: origin },
      });
      assert.equal(response.status, 201);
      const cookie = response.headers.getSetCookie()[0].split(";")[0];
      const stale = await strict.get(cookie);
      assert.equal(stale.status, 401);
      assert.equal((await stale.json()).error.code, "reauthentication_required");
      assert.deepEqual(stale.headers.getSetCookie(), [], "the cookie is kept");
      assert.equal((await lenient.get(cookie)).status, 200, "fresh enough for five minutes");
      assert.equal((await app.get(cookie)).status, 200, "the session itself is fine");
    } finally {
      strict.close();
      lenient.close();
    }
  });

  await step("the README shows the examples as they are tested", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    for (const file of ["express.mjs", "next/next.config.mjs", "next/app/api/orders/route.js"]) {
      const example = readFileSync(new URL(`../../clients/js/examples/${file}`, import.meta.url), "utf8");
      assert.ok(readme.includes(example), `README.md must show clients/js/examples/${file} as it is`);
    }
  });

  await step("the Next.js example's route handler (withSession) answers with the session", async () => {
    process.env.SESSION_API_URL = api;
    const { GET } = await import("../../clients/js/examples/next/app/api/orders/route.js");
    const cookie = await signIn("next-route");
    const answer = await GET(new Request("https://app.example/api/orders", { headers: { Cookie: cookie } }));
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { user: "next-route", orders: [] });
    assert.equal((await GET(new Request("https://app.example/api/orders"))).status, 401);
  });
} finally {
  app.close();
}
console.log(run.failed ? "# guards test failed" : "# guards test passed");
process.exit(run.failed ? 1 : 0);
