// Migrating an app's signed-in users to the session service without signing anyone out (issue
// 22), against the real local stack (make test): the guards' `migrate` option with the recipes of
// clients/js/examples/migrate, on the real packages (express, express-session, iron-session) and
// a JWT cookie verified with WebCrypto. Usage: API_URL=http://localhost:9000 with the stack's
// AUTH_JWT_HS256_SECRET, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE (make test exports them)
// node tests/node/migration.mjs.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { createServer } from "node:http";

import express from "../../clients/js/node_modules/express/index.js";
import session from "../../clients/js/node_modules/express-session/index.js";
import { sealData } from "../../clients/js/node_modules/iron-session/dist/index.js";
import { fromExpressSession } from "../../clients/js/examples/migrate/express-session.mjs";
import { fromIronSession } from "../../clients/js/examples/migrate/iron-session.mjs";
import { fromJwtCookie } from "../../clients/js/examples/migrate/jwt-cookie.mjs";
import { fromWhoAmI } from "../../clients/js/examples/migrate/who-am-i.mjs";
import { sessionMiddleware, withSession } from "../../clients/js/dist/source/server.js";
import { steps } from "../steps.mjs";

const api = process.env.API_URL || "http://localhost:9000";
const tickets = {
  ticketSecret: process.env.AUTH_JWT_HS256_SECRET,
  issuer: process.env.AUTH_JWT_ISSUER,
  audience: process.env.AUTH_JWT_AUDIENCE,
};
const run = steps();
// Users of this run only: the stack outlives it.
const unique = (user) => `${user}-${randomUUID().slice(0, 8)}`;
const step = (name, body) => run.step(name, body).catch(() => {});

/** Serves `app` (an Express app or a node:http handler) on a free port; its base URL. */
async function serve(app) {
  const server = createServer(app);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}
const servers = [];

/** A `fetch` that counts its calls to the session API, by method and path. */
function counting() {
  const calls = [];
  const fetcher = (url, init) => {
    calls.push(`${init?.method ?? "GET"} ${new URL(url).pathname}`);
    return fetch(url, init);
  };
  return { fetch: fetcher, calls };
}

/** The `name=value` of each `Set-Cookie` of `response`, by name. */
function cookiesOf(response) {
  return Object.fromEntries(
    response.headers.getSetCookie().map((c) => {
      const pair = c.split(";")[0];
      return [pair.slice(0, pair.indexOf("=")), { pair, header: c }];
    }),
  );
}

/** The service's session cookie among `cookies` (the one that is not a legacy cookie). */
function serviceCookie(cookies, legacy) {
  const [name] = Object.keys(cookies).filter((n) => n !== legacy);
  return cookies[name].pair;
}

/** The signed-in devices of the session of `cookie`. */
async function devices(cookie) {
  const answer = await fetch(`${api}/sessions`, { headers: { Cookie: cookie } });
  assert.equal(answer.status, 200);
  return (await answer.json()).sessions;
}

// The app before: Express on express-session (its MemoryStore), signing users in at /login.
const secret = "keyboard cat, but longer and random in production";
const store = new session.MemoryStore();
const before = express();
before.use(session({ store, secret, resave: false, saveUninitialized: false }));
before.post("/login/:user", (req, res) => {
  req.session.user = { id: req.params.user, signedInAt: Math.floor(Date.now() / 1000) - 3600 };
  req.session.cart = ["book"];
  res.json({ ok: true });
});
const beforeUrl = await serve(before);
async function legacySignIn(user) {
  const answer = await fetch(`${beforeUrl}/login/${user}`, { method: "POST" });
  return answer.headers.getSetCookie()[0].split(";")[0]; // connect.sid=s%3A...
}

// The app after: the same routes behind the guard, with `migrate`.
const counted = counting();
const after = express();
after.use(
  "/api",
  sessionMiddleware({
    apiUrl: api,
    fetch: counted.fetch,
    timeout: 10_000, // a busy CI machine: the test is about the exchange, not the budget
    migrate: { ...fromExpressSession({ store, secret }), ...tickets },
  }),
);
after.get("/api/me", (req, res) => res.json({ user: req.session.user_id, data: req.session.data, amr: req.session.amr }));
const afterUrl = await serve(after);
const me = (cookie) => fetch(`${afterUrl}/api/me`, { headers: cookie ? { Cookie: cookie } : {} });

try {
  await step("express-session: a signed-in user is signed in on the very request; presented again, the same session", async () => {
    const ada = unique("ada");
    const legacy = await legacySignIn(ada);
    counted.calls.length = 0;
    const first = await me(legacy);
    assert.equal(first.status, 200);
    const body = await first.json();
    assert.equal(body.user, ada);
    assert.deepEqual(body.data, { cart: ["book"] });
    assert.ok(body.amr.includes("legacy"), JSON.stringify(body.amr));
    assert.deepEqual(counted.calls, ["GET /sessions/current", "POST /sessions"], "one ask, one exchange");
    const cookies = cookiesOf(first);
    assert.match(cookies["connect.sid"].header, /Max-Age=0/, "the legacy cookie is cleared");
    assert.match(cookies["connect.sid"].header, /Path=\//);
    const fresh = serviceCookie(cookies, "connect.sid");
    // The service's own cookie, attributes as it sets them (HttpOnly), not restated.
    assert.match(cookies[fresh.split("=")[0]].header, /HttpOnly/i);

    counted.calls.length = 0;
    const next = await me(fresh);
    assert.equal(next.status, 200);
    assert.deepEqual(counted.calls, ["GET /sessions/current"], "a migrated user costs what any user costs");
    // Presented again at once (a tab that had not got the new cookie yet): the same session.
    const again = await me(legacy);
    assert.equal(again.status, 200);
    assert.equal(serviceCookie(cookiesOf(again), "connect.sid"), fresh);
    assert.equal((await devices(fresh)).length, 1);
  });

  await step("express-session: once migrated, the old session ends after its grace", async () => {
    const quick = express();
    quick.use(sessionMiddleware({ apiUrl: api, migrate: { ...fromExpressSession({ store, secret, graceSeconds: 1 }), ...tickets } }));
    quick.get("/", (req, res) => res.json({ user: req.session.user_id }));
    const url = await serve(quick);
    const legacy = await legacySignIn(unique("brief"));
    assert.equal((await fetch(url, { headers: { Cookie: legacy } })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await fetch(url, { headers: { Cookie: legacy } })).status, 401, "the old store no longer knows it");
  });

  await step("a request without a legacy cookie costs what it did", async () => {
    counted.calls.length = 0;
    assert.equal((await me()).status, 401);
    assert.equal((await me("unrelated=1")).status, 401);
    assert.deepEqual(counted.calls, ["GET /sessions/current"], "no cookie: no call; another cookie: one GET, no exchange");
  });

  await step("10 parallel requests with one legacy cookie: all signed in, one session", async () => {
    const legacy = await legacySignIn(unique("grace"));
    const answers = await Promise.all(Array.from({ length: 10 }, () => me(legacy)));
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
    const issued = new Set(answers.map((a) => serviceCookie(cookiesOf(a), "connect.sid")));
    assert.equal(issued.size, 1, "one token for every tab");
    const listed = await devices([...issued][0]);
    assert.equal(listed.length, 1, "the device list shows one session");
    console.log(`# 10 parallel requests with one legacy cookie -> ${listed.length} session`);
  });

  await step("a forged or unknown legacy cookie: the ordinary 401, the cookie left as it was", async () => {
    for (const forged of ["connect.sid=s%3Anope.bad", "connect.sid=s%3Aunknown-id." + createHmac("sha256", secret).update("unknown-id").digest("base64").replace(/=+$/, "")]) {
      const answer = await me(forged);
      assert.equal(answer.status, 401);
      assert.equal(cookiesOf(answer)["connect.sid"], undefined, "not cleared");
    }
  });

  await step("the old store down: 503 with Retry-After, nothing cleared", async () => {
    const legacy = await legacySignIn(unique("linus"));
    const get = store.get;
    store.get = (id, callback) => callback(new Error("the old store is down"));
    try {
      const answer = await me(legacy);
      assert.equal(answer.status, 503);
      assert.ok(answer.headers.get("retry-after"));
      assert.deepEqual(answer.headers.getSetCookie(), []);
    } finally {
      store.get = get;
    }
    assert.equal((await me(legacy)).status, 200, "and once it is back, the exchange happens");
  });

  await step("a user the service refuses (an unknown profile): the service's own answer", async () => {
    const refusing = express();
    refusing.use(
      sessionMiddleware({
        apiUrl: api,
        migrate: {
          ...fromExpressSession({ store, secret }),
          resolve: async () => ({ user_id: "margaret", profile: "no-such-profile" }),
          ...tickets,
        },
      }),
    );
    refusing.get("/", (req, res) => res.json({}));
    const url = await serve(refusing);
    const legacy = await legacySignIn("margaret");
    const answer = await fetch(url, { headers: { Cookie: legacy } });
    assert.equal(answer.status, 400);
    assert.equal((await answer.json()).error.code, "unknown_profile");
  });

  await step("iron-session: a sealed cookie is unsealed with its password; presented again, the same session", async () => {
    const password = "a-password-of-at-least-thirty-two-characters!";
    const handler = withSession(
      (request, s) => Response.json({ user: s.user_id, data: s.data, amr: s.amr }),
      { apiUrl: api, migrate: { ...fromIronSession({ password }), ...tickets } },
    );
    const sealed = await sealData({ userId: "iron-user", locale: "fr", mfa: true }, { password });
    const answer = await handler(new Request("http://app.test/api", { headers: { Cookie: `iron-session=${sealed}` } }));
    assert.equal(answer.status, 200);
    const body = await answer.json();
    assert.equal(body.user, "iron-user");
    assert.deepEqual(body.data, { locale: "fr" });
    assert.deepEqual(body.amr, ["pwd", "otp", "legacy"]);
    assert.match(cookiesOf(answer)["iron-session"].header, /Max-Age=0/);
    // The sealed cookie cannot be destroyed: presented again (a tab that had not got the new
    // cookie yet), it gets the same session, never a second one.
    const again = await handler(new Request("http://app.test/api", { headers: { Cookie: `iron-session=${sealed}` } }));
    assert.equal(again.status, 200);
    assert.equal(serviceCookie(cookiesOf(again), "iron-session"), serviceCookie(cookiesOf(answer), "iron-session"));
    const forged = await handler(new Request("http://app.test/api", { headers: { Cookie: `iron-session=${sealed.slice(0, -4)}AAAA` } }));
    assert.equal(forged.status, 401);
  });

  await step("a JWT cookie verified with WebCrypto", async () => {
    const jwtSecret = "the old app's HS256 secret, 32 bytes or more";
    const part = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const jwt = (claims, key = jwtSecret) => {
      const message = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
      return `${message}.${createHmac("sha256", key).update(message).digest("base64url")}`;
    };
    const handler = withSession((request, s) => Response.json({ user: s.user_id, tenant: s.tenant_id }), {
      apiUrl: api,
      migrate: { ...fromJwtCookie({ secret: jwtSecret }), ...tickets },
    });
    const call = (token) => handler(new Request("http://app.test/", { headers: { Cookie: `token=${token}` } }));
    const good = await call(jwt({ sub: "jwt-user", org: "acme", iat: now - 60, exp: now + 600 }));
    assert.equal(good.status, 200);
    assert.deepEqual(await good.json(), { user: "jwt-user", tenant: "acme" });
    assert.equal((await call(jwt({ sub: "jwt-user", iat: now - 900, exp: now - 60 }))).status, 401, "expired");
    assert.equal((await call(jwt({ sub: "jwt-user", exp: now + 600 }, "another key"))).status, 401, "forged");
  });

  await step("another backend (Django, Rails, Next.js): its who-am-i endpoint, asked with the cookie", async () => {
    const loggedOut = [];
    const django = unique("django-session");
    const old = await serve((req, res) => {
      const signedIn = (req.headers.cookie ?? "").includes(`sessionid=${django}`);
      if (req.url.endsWith("/logout")) {
        loggedOut.push(req.headers.cookie);
        res.end();
      } else if (signedIn) {
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({ user_id: 42, last_login: "2026-11-30T08:00:00Z", data: { theme: "dark" } }));
      } else {
        res.statusCode = 403;
        res.end();
      }
    });
    const handler = withSession((request, s) => Response.json({ user: s.user_id, data: s.data }), {
      apiUrl: api,
      migrate: { ...fromWhoAmI({ url: `${old}/api/me/` }), ...tickets },
    });
    const call = (value) => handler(new Request("http://app.test/", { headers: { Cookie: `sessionid=${value}` } }));
    const answer = await call(django);
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { user: "42", data: { theme: "dark" } });
    assert.equal(loggedOut.length, 0, "the old backend's session ends on its own");
    assert.equal((await call("someone-elses")).status, 401);
  });
} finally {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
}
if (run.failed) process.exit(1);
