// The server guards against a scripted session API served over real HTTP (node:http), and an
// app behind the middleware served the same way.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import v8 from "node:v8";
import vm from "node:vm";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { guard, sessionMiddleware, withSession } from "../source/server.js";

/** Serves `handler` on a free loopback port: its URL, and what closes it (open connections too). */
async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close };
}

const session = { session_id: "6f1c0000-0000-4000-8000-000000000000", user_id: "alice", tenant_id: null, data: {}, version: 1 };

const SUPPORT = "arn:aws:iam::123456789012:role/support-console";

/** The session API: the cookie value says what it answers. `revoked` lists revoked tokens. */
async function sessionApi() {
  const revoked = new Set<string>();
  let calls = 0;
  const { url, close } = await listen((req, res) => {
    calls += 1;
    const token = /__Host-session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1] ?? null;
    if (token === "slow") return; // never answers
    // A 200 that is not a session: a misconfigured proxy's page, an empty object, a stub.
    if (token === "html") {
      res.writeHead(200, { "Content-Type": "text/html" });
      return res.end("<html><body>Welcome</body></html>");
    }
    if (token === "empty") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end("{}");
    }
    if (token === "nobody") {
      res.writeHead(200, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ ...session, user_id: null }));
    }
    // The client's own mistakes, as the session API answers them.
    for (const [name, status, code] of [
      ["ambiguous", 400, "invalid_request"],
      ["huge", 431, "headers_too_large"],
      ["large", 413, "payload_too_large"],
    ] as const) {
      if (token === name) {
        res.writeHead(status, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ error: { code, message: `the ${name} one` } }));
      }
    }
    if (token === "down") {
      res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "2" });
      return res.end(JSON.stringify({ error: { code: "service_unavailable", message: "later" } }));
    }
    if (token === null || revoked.has(token)) {
      res.writeHead(401, {
        "Content-Type": "application/json",
        "Set-Cookie": "__Host-session=; Max-Age=0; Path=/; Secure; HttpOnly",
      });
      return res.end(JSON.stringify({ error: { code: token ? "session_revoked" : "unauthenticated", message: "no" } }));
    }
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (token === "rotating") headers["Set-Cookie"] = "__Host-session=rotated; Path=/; Secure; HttpOnly";
    res.writeHead(200, headers);
    // An impersonation session names who acts for the user; a guest's says guest.
    if (token === "guest") return res.end(JSON.stringify({ ...session, user_id: "guest:1", guest: true }));
    res.end(JSON.stringify(token === "support" ? { ...session, actor: { principal: SUPPORT, reason: "case 42" } } : session));
  });
  return { url, revoked, calls: () => calls, close };
}

/** An app behind the middleware: answers `{user}` from req.session. */
async function app(apiUrl: string, options: { maxStaleness?: number; timeout?: number } = {}) {
  const guard = sessionMiddleware({ apiUrl, ...options });
  const { url, close } = await listen((req, res) => {
    guard(req, res, () => {
      res.setHeader("Content-Type", "application/json");
      const session = (req as { session?: { user_id: string; actor?: { principal: string } } }).session;
      res.end(JSON.stringify({ user: session?.user_id, actor: session?.actor?.principal ?? null }));
    });
  });
  return {
    get: (cookie?: string) => fetch(url, { headers: cookie ? { Cookie: `__Host-session=${cookie}` } : {} }),
    close,
  };
}

test("middleware: the session reaches the app; no session is a JSON 401", async () => {
  const api = await sessionApi();
  const express = await app(api.url);
  try {
    const signedIn = await express.get("good");
    assert.equal(signedIn.status, 200);
    assert.deepEqual(await signedIn.json(), { user: "alice", actor: null });
    // Support signed in as alice: the app sees who acts, to show a banner or refuse.
    const impersonated = await express.get("support");
    assert.deepEqual(await impersonated.json(), { user: "alice", actor: SUPPORT });

    const signedOut = await express.get();
    assert.equal(signedOut.status, 401);
    assert.equal(((await signedOut.json()) as { error: { code: string } }).error.code, "unauthenticated");
  } finally {
    express.close();
    api.close();
  }
});

test("middleware: rotated and cleared cookies are passed through", async () => {
  const api = await sessionApi();
  const express = await app(api.url);
  try {
    const rotated = await express.get("rotating");
    assert.equal(rotated.status, 200);
    assert.deepEqual(rotated.headers.getSetCookie(), ["__Host-session=rotated; Path=/; Secure; HttpOnly"]);

    api.revoked.add("good");
    const revoked = await express.get("good");
    assert.equal(revoked.status, 401);
    assert.equal(((await revoked.json()) as { error: { code: string } }).error.code, "session_revoked");
    assert.deepEqual(revoked.headers.getSetCookie(), ["__Host-session=; Max-Age=0; Path=/; Secure; HttpOnly"]);
  } finally {
    express.close();
    api.close();
  }
});

test("middleware: the session API down or too slow is a 503 with Retry-After, never a sign-out", async () => {
  const api = await sessionApi();
  const express = await app(api.url, { timeout: 200 });
  try {
    const down = await express.get("down");
    assert.equal(down.status, 503);
    assert.equal(down.headers.get("retry-after"), "2");
    assert.deepEqual(down.headers.getSetCookie(), [], "the cookie is kept");

    const slow = await express.get("slow");
    assert.equal(slow.status, 503);
    assert.equal(slow.headers.get("retry-after"), "1");
  } finally {
    express.close();
    api.close();
  }
});

test("withSession: the handler gets the session; cookies pass through; 503 and 401 answered", async () => {
  const api = await sessionApi();
  const handler = withSession((_request, s) => Response.json({ user: s.user_id }), { apiUrl: api.url });
  const call = (cookie: string) => handler(new Request("https://app.example/orders", { headers: { Cookie: `__Host-session=${cookie}` } }));
  try {
    const rotated = await call("rotating");
    assert.deepEqual(await rotated.json(), { user: "alice" });
    assert.deepEqual(rotated.headers.getSetCookie(), ["__Host-session=rotated; Path=/; Secure; HttpOnly"]);
    assert.equal((await call("down")).status, 503);
    api.revoked.add("good");
    assert.equal((await call("good")).status, 401);
  } finally {
    api.close();
  }
});

test("a guest is refused with 403 guest_forbidden unless the guard allows guests", async () => {
  const api = await sessionApi();
  const handler = (allowGuests: boolean) =>
    withSession((_request, s) => Response.json({ user: s.user_id, guest: s.guest ?? false }), { apiUrl: api.url, allowGuests });
  const call = (allowGuests: boolean, cookie: string) =>
    handler(allowGuests)(new Request("https://app.example/cart", { headers: { Cookie: `__Host-session=${cookie}` } }));
  try {
    const refused = await call(false, "guest");
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "guest_forbidden");
    assert.deepEqual(await (await call(true, "guest")).json(), { user: "guest:1", guest: true });
    assert.deepEqual(await (await call(false, "good")).json(), { user: "alice", guest: false });
  } finally {
    api.close();
  }
});

test("with the micro-cache, a revoked session is let through at most maxStaleness", async () => {
  const api = await sessionApi();
  const express = await app(api.url, { maxStaleness: 300 });
  try {
    assert.equal((await express.get("good")).status, 200);
    api.revoked.add("good");

    const within = await express.get("good");
    await new Promise((resolve) => setTimeout(resolve, 350));
    const after = await express.get("good");

    assert.equal(within.status, 200, "within maxStaleness the cached verdict holds");
    assert.equal(after.status, 401, "after it, the revocation is seen");
    assert.equal(api.calls(), 2, "the cached request did not reach the session API");
  } finally {
    express.close();
    api.close();
  }
});

test("middleware: a 200 that is not a well-formed session is a 503, never a way in", async () => {
  const api = await sessionApi();
  const express = await app(api.url);
  let reached = 0;
  try {
    for (const token of ["html", "empty", "nobody"]) {
      const answer = await express.get(token);
      assert.equal(answer.status, 503, token);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, "service_unavailable", token);
      assert.equal(answer.headers.get("Retry-After"), "1", token);
    }
    const guarded = withSession(
      () => {
        reached += 1;
        return new Response("in");
      },
      { apiUrl: api.url },
    );
    const answer = await guarded(new Request("http://app.example/x", { headers: { Cookie: "__Host-session=empty" } }));
    assert.equal(answer.status, 503);
    assert.equal(reached, 0, "the handler never ran");
  } finally {
    express.close();
    api.close();
  }
});

test("middleware: the client's own mistakes (400, 413, 431) pass through as what they are", async () => {
  const api = await sessionApi();
  const express = await app(api.url);
  try {
    for (const [token, status, code] of [
      ["ambiguous", 400, "invalid_request"],
      ["large", 413, "payload_too_large"],
      ["huge", 431, "headers_too_large"],
    ] as const) {
      const answer = await express.get(token);
      assert.equal(answer.status, status, token);
      const body = (await answer.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code, token);
      assert.equal(body.error.message, `the ${token} one`);
      assert.equal(answer.headers.get("Retry-After"), null, "not a retry-shortly answer");
    }
  } finally {
    express.close();
    api.close();
  }
});

test("the micro-cache is bounded: 100,000 distinct credentials keep at most maxCached, and expired ones go", async () => {
  // A session API that answers every credential with a session, in this process.
  const answer = async () => Response.json(session);
  const headers = (i: number) => new Headers({ Cookie: `__Host-session=token-${i}` });

  // What stays on the heap once garbage is collected: the cache, and nothing per request.
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const retained = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  const bySize = guard({ apiUrl: "https://api.example", fetch: answer, maxStaleness: 60_000, maxCached: 1_000 });
  const heapBefore = retained();
  for (let i = 0; i < 100_000; i++) {
    const verdict = await bySize(headers(i));
    assert.equal(verdict.kind, "session");
  }
  const grown = retained() - heapBefore;
  assert.equal(bySize.cached, 1_000, "the newest 1,000 kept, the rest forgotten");
  console.log(`# 100,000 credentials: ${bySize.cached} cached, heap retained ${(grown / 1e6).toFixed(2)} MB`);
  // 100,000 kept verdicts (64-character keys and an entry each) would be well over 10 MB.
  assert.ok(grown < 5e6, `heap retained ${grown} bytes`);
  // The most recent is still served from the cache; the oldest asks again.
  let asked = 0;
  const counting = async () => {
    asked += 1;
    return Response.json(session);
  };
  const recent = guard({ apiUrl: "https://api.example", fetch: counting, maxStaleness: 60_000, maxCached: 2 });
  await recent(headers(1));
  await recent(headers(2));
  await recent(headers(3));
  await recent(headers(3));
  assert.equal(asked, 3, "the newest verdict came from the cache");
  await recent(headers(1));
  assert.equal(asked, 4, "the oldest had been forgotten");

  // By time: verdicts older than maxStaleness are dropped as new ones come.
  const byTime = guard({ apiUrl: "https://api.example", fetch: answer, maxStaleness: 20 });
  for (let i = 0; i < 500; i++) await byTime(headers(i));
  assert.ok(byTime.cached > 0);
  await new Promise((resolve) => setTimeout(resolve, 40));
  await byTime(headers(100_001));
  assert.equal(byTime.cached, 1, "only the fresh verdict is left");
});
