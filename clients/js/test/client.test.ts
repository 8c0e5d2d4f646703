// Unit tests of the client's state machine and calls, with Node's test runner. The session API
// is scripted here (each test says what it answers); the browser tests run the real stack.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createSessionClient, SessionApiError, SessionNetworkError } from "../source/index.js";
import type { Session, SessionState } from "../source/index.js";

const API = "https://api.example.com";

function session(overrides: Partial<Session> = {}): Session {
  return {
    session_id: "6f1c0000-0000-4000-8000-000000000000",
    user_id: "alice",
    tenant_id: null,
    data: {},
    version: 1,
    created_at: "2026-11-25T10:00:00.000Z",
    last_seen_at: "2026-11-25T10:00:00.000Z",
    expires_at: "2026-11-25T18:00:00.000Z",
    absolute_expires_at: "2026-12-02T10:00:00.000Z",
    authenticated_at: "2026-11-25T10:00:00.000Z",
    amr: [],
    acr: null,
    profile: "default",
    guest: false,
    ...overrides,
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function error(status: number, code: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message: code } }, headers);
}

interface Call {
  method: string;
  url: string;
  headers: Headers;
  credentials: RequestCredentials | undefined;
  body: unknown;
}

/** A scripted API: `answer` decides each response; every call is recorded. */
function scripted(answer: (call: Call, index: number) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const call: Call = {
      method: init.method ?? "GET",
      url: input.toString(),
      headers: new Headers(init.headers),
      credentials: init.credentials,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    await new Promise((resolve) => setTimeout(resolve, 1));
    return answer(call, calls.length - 1);
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

const noWait = async (): Promise<void> => {};

test("concurrent current() callers share one request", async () => {
  const api = scripted(() => json(200, session()));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });

  const answers = await Promise.all([client.current(), client.current(), client.current()]);

  assert.equal(api.calls.length, 1);
  assert.deepEqual(answers.map((s) => s?.user_id), ["alice", "alice", "alice"]);
  assert.equal(api.calls[0]?.credentials, "include", "cookie mode sends the cookie");
  assert.equal(client.state.status, "signed-in");
});

test("current() answers from the state when signed in, and asks again with force", async () => {
  const api = scripted(() => json(200, session()));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.current();

  await client.current();
  await client.current({ force: true });

  assert.equal(api.calls.length, 2);
});

test("a 401 signs out with the server's code as the reason", async () => {
  const api = scripted((_, i) => (i === 0 ? json(200, session()) : error(401, "session_expired")));
  const states: SessionState[] = [];
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, onStateChange: (s) => states.push(s) });
  await client.current();

  const answer = await client.current({ force: true });

  assert.equal(answer, null);
  assert.deepEqual(client.state, { status: "signed-out", reason: "session_expired" });
  assert.deepEqual(states.map((s) => s.status), ["signed-in", "signed-out"]);
});

test("a 503 is retried as Retry-After says and never signs out", async () => {
  const waits: number[] = [];
  const api = scripted((_, i) =>
    i === 0 ? json(200, session()) : i < 3 ? error(503, "service_unavailable", { "Retry-After": "2" }) : json(200, session({ version: 2 })),
  );
  const client = createSessionClient({
    baseUrl: API,
    fetch: api.fetch,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  await client.current();

  const answer = await client.current({ force: true });

  assert.equal(answer?.version, 2);
  assert.equal(waits.length, 2);
  assert.ok(waits[0]! >= 2000 && waits[0]! <= 2500, `first wait ${waits[0]}`);
  assert.ok(waits[1]! >= 4000 && waits[1]! <= 5000, `second wait ${waits[1]}`);
  assert.equal(client.state.status, "signed-in");
});

test("a sign-in that answered 503 with a resume key is retried with the same ticket and the key", async () => {
  const api = scripted((call, i) =>
    i === 0
      ? json(503, { error: { code: "service_unavailable", message: "late", resume: "K".repeat(43) } }, { "Retry-After": "1" })
      : (call.body as { resume?: string }).resume === "K".repeat(43)
        ? json(201, session())
        : error(401, "ticket_reused"),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, sleep: noWait });

  const signedIn = await client.signIn("the-ticket", { data: { cart: 1 } });

  assert.equal(signedIn.user_id, "alice");
  assert.equal(api.calls.length, 2);
  assert.deepEqual(api.calls[0]!.body, { token_in_body: false, data: { cart: 1 }, id_token: "the-ticket" });
  assert.deepEqual(api.calls[1]!.body, {
    token_in_body: false,
    data: { cart: 1 },
    id_token: "the-ticket",
    resume: "K".repeat(43),
  });
  assert.equal(client.state.status, "signed-in");
});

test("a 503 that outlasts the retries rejects and keeps the session", async () => {
  const api = scripted((_, i) => (i === 0 ? json(200, session()) : error(503, "service_unavailable", { "Retry-After": "1" })));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, sleep: noWait, retries: 2 });
  await client.current();

  await assert.rejects(client.refresh(), (e: unknown) => e instanceof SessionApiError && e.status === 503);

  assert.equal(api.calls.length, 4, "the first read, then one try and two retries");
  assert.equal(client.state.status, "signed-in");
});

test("a network failure rejects and keeps the session", async () => {
  let offline = false;
  const api = scripted(() => {
    if (offline) throw new TypeError("Failed to fetch");
    return json(200, session());
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.current();
  offline = true;

  await assert.rejects(client.current({ force: true }), SessionNetworkError);
  await assert.rejects(client.signOut(), SessionNetworkError);

  assert.equal(client.state.status, "signed-in");
});

test("concurrent refresh() callers share one rotation", async () => {
  const api = scripted(() => json(200, session({ version: 1 })));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });

  await Promise.all([client.refresh(), client.refresh(), client.refresh(), client.refresh()]);

  assert.equal(api.calls.filter((c) => c.url.endsWith("/sessions/current/refresh")).length, 1);
});

test("an impersonation ticket travels as impersonation_ticket in the body, in either mode", async () => {
  const actor = { principal: "arn:aws:iam::123456789012:user/support", reason: "case 42" };
  for (const mode of ["cookie", "bearer"] as const) {
    const api = scripted(() => json(201, { ...session(), actor, token: "t".repeat(43), token_type: "Bearer" }));
    const client = createSessionClient({ baseUrl: API, fetch: api.fetch, mode, crossTab: false, keepAlive: false });

    const signedIn = await client.signIn("the-ticket", { impersonation: true });

    const [signIn] = api.calls;
    assert.equal(signIn?.headers.get("Authorization"), null, mode);
    assert.deepEqual(signIn?.body, { token_in_body: mode === "bearer", impersonation_ticket: "the-ticket" }, mode);
    assert.deepEqual(signedIn.actor, actor, mode);
  }
});

test("cookie mode sends the ticket in the body, never beside the cookie as Authorization", async () => {
  const api = scripted(() => json(201, session()));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });

  await client.signIn("the-ticket", { data: { theme: "dark" }, profile: "remember" });

  const [signIn] = api.calls;
  assert.equal(signIn?.headers.get("Authorization"), null);
  assert.deepEqual(signIn?.body, { token_in_body: false, data: { theme: "dark" }, profile: "remember", id_token: "the-ticket" });
  assert.equal(signIn?.credentials, "include");
  assert.equal(client.state.status, "signed-in");
});

test("bearer mode keeps the token it was given and sends it", async () => {
  let issued = 0;
  const api = scripted((call) => {
    if (call.method === "DELETE") return new Response(null, { status: 204 });
    issued += 1;
    return json(call.url.endsWith("/sessions") ? 201 : 200, session({ token: `token-${issued}`, token_type: "Bearer" }));
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, mode: "bearer" });

  await client.signIn("the-ticket", { data: { theme: "dark" } });
  await client.refresh();
  await client.signOut();

  const [signIn, refresh, signOut] = api.calls;
  assert.equal(signIn?.headers.get("Authorization"), "Bearer the-ticket");
  assert.deepEqual(signIn?.body, { token_in_body: true, data: { theme: "dark" } });
  assert.equal(signIn?.credentials, undefined, "no cookies in bearer mode");
  assert.equal(refresh?.headers.get("Authorization"), "Bearer token-1");
  assert.equal(signOut?.headers.get("Authorization"), "Bearer token-2", "the rotated token");
  assert.deepEqual(client.state, { status: "signed-out", reason: "signed_out" });
  assert.equal(await client.current(), null, "no token left: signed out without a call");
  assert.equal(api.calls.length, 3);
});

test("updateData sends If-Match and, when asked, re-applies the patch after a conflict", async () => {
  let stored = 3;
  const api = scripted((call) => {
    if (call.method === "GET") return json(200, session({ version: stored }));
    if (call.headers.get("If-Match") !== `"${stored}"`) return error(412, "precondition_failed");
    stored += 1;
    return json(200, session({ version: stored, data: (call.body as { data: Record<string, unknown> }).data }));
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.current();
  stored = 4; // another tab changed the data

  await assert.rejects(client.updateData({ theme: "dark" }), (e: unknown) => e instanceof SessionApiError && e.status === 412);
  const updated = await client.updateData({ theme: "dark" }, { retryOnConflict: true });

  assert.equal(updated.version, 5);
  assert.deepEqual(updated.data, { theme: "dark" });
  assert.equal(client.state.status === "signed-in" && client.state.session.version, 5);
});

test("client.fetch includes credentials; a 401 from the session API's origin signs out", async () => {
  const api = scripted((call) => {
    if (call.url.startsWith("https://elsewhere.example")) return error(401, "unauthenticated");
    if (call.url.endsWith("/sessions/current")) return json(200, session());
    return error(401, "session_revoked");
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.current();

  const foreign = await client.fetch("https://elsewhere.example/thing");
  assert.equal(foreign.status, 401);
  assert.equal(client.state.status, "signed-in", "another origin's 401 is not ours");

  const own = await client.fetch(`${API}/orders`);
  assert.equal(own.status, 401);
  assert.equal(api.calls.at(-1)?.credentials, "include");
  assert.deepEqual(client.state, { status: "signed-out", reason: "session_revoked" });
});

test("subscribe hears every change until it unsubscribes", async () => {
  const api = scripted((call) => (call.method === "DELETE" ? new Response(null, { status: 204 }) : json(200, session())));
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  const heard: string[] = [];
  const stop = client.subscribe((s) => heard.push(s.status));

  await client.current();
  stop();
  await client.signOut();

  assert.deepEqual(heard, ["signed-in"]);
  assert.equal(client.state.status, "signed-out");
});

test("revoking the calling device signs out here; another device does not", async () => {
  const api = scripted((call) => {
    if (call.method === "DELETE") return new Response(null, { status: 204 });
    return json(200, session());
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.current();

  await client.revokeDevice("7a2d0000-0000-4000-8000-000000000000");
  assert.equal(client.state.status, "signed-in");
  await client.revokeDevice(session().session_id);

  assert.deepEqual(client.state, { status: "signed-out", reason: "signed_out" });
  assert.equal(api.calls[1]?.url, `${API}/sessions/7a2d0000-0000-4000-8000-000000000000`);
});

test("securityHistory() reads one page and hands back the next cursor", async () => {
  const entry = (id: string) => ({ id, type: "session.created", time: "2026-12-03T16:00:00.000Z", session_id: "s" });
  const api = scripted((call) =>
    call.url.includes("cursor=")
      ? json(200, { events: [entry("e3")], next_cursor: null })
      : json(200, { events: [entry("e1"), entry("e2")], next_cursor: "MTc2NDc3/Nj+" }),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });

  const first = await client.securityHistory({ limit: 2 });
  const last = await client.securityHistory({ limit: 2, cursor: first.nextCursor ?? "" });

  assert.deepEqual(first.events.map((e) => e.id), ["e1", "e2"]);
  assert.equal(first.nextCursor, "MTc2NDc3/Nj+");
  assert.deepEqual(last.events.map((e) => e.id), ["e3"]);
  assert.equal(last.nextCursor, null);
  assert.match(api.calls[0]?.url ?? "", /\/sessions\/current\/events\?limit=2$/);
  assert.match(api.calls[1]?.url ?? "", /limit=2&cursor=MTc2NDc3%2FNj%2B$/, "the cursor is URL-encoded");
  assert.equal(api.calls[0]?.credentials, "include");
});

test("devices() follows next_cursor through every page", async () => {
  const device = (id: string) => ({ session_id: id, current: id === "a" });
  const api = scripted((call) =>
    call.url.includes("cursor=page%2F2")
      ? json(200, { sessions: [device("c")], next_cursor: null })
      : json(200, { sessions: [device("a"), device("b")], next_cursor: "page/2" }),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });

  const devices = await client.devices();

  assert.deepEqual(
    devices.map((d) => d.session_id),
    ["a", "b", "c"],
  );
  assert.equal(api.calls.length, 2);
  assert.match(api.calls[0]?.url ?? "", /\/sessions\?limit=100$/);
  assert.match(api.calls[1]?.url ?? "", /cursor=page%2F2/);
});

test("current({ maxAuthAge }) always asks; a stale proof rejects without signing out", async () => {
  const api = scripted((call) =>
    call.url.includes("max_auth_age=300")
      ? error(401, "reauthentication_required")
      : json(call.url.endsWith("/sessions") ? 201 : 200, session()),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.signIn("the-ticket");

  await assert.rejects(client.current({ maxAuthAge: 300 }), (e: unknown) => {
    assert.ok(e instanceof SessionApiError);
    assert.equal(e.code, "reauthentication_required");
    assert.equal(e.isSignedOut, false);
    return true;
  });

  assert.equal(client.state.status, "signed-in", "the session stays");
  assert.match(api.calls[1]?.url ?? "", /\/sessions\/current\?max_auth_age=300$/);
});

test("reauthenticate sends the ID token in the body and takes the rotated session", async () => {
  const api = scripted((call) =>
    json(call.url.endsWith("/sessions") ? 201 : 200, session({ amr: call.url.endsWith("/reauth") ? ["mfa"] : [] })),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch });
  await client.signIn("the-ticket");

  const fresh = await client.reauthenticate("fresh-id-token");

  const reauth = api.calls[1];
  assert.equal(reauth?.method, "POST");
  assert.match(reauth?.url ?? "", /\/sessions\/current\/reauth$/);
  assert.deepEqual(reauth?.body, { id_token: "fresh-id-token" });
  assert.equal(reauth?.headers.get("Authorization"), null, "the ID token never travels as Authorization");
  assert.deepEqual(fresh.amr, ["mfa"]);
  assert.deepEqual(client.state.status === "signed-in" && client.state.session.amr, ["mfa"]);
});

test("nothing is created on page load; the first updateData without a session starts a guest session with it", async () => {
  const guest = session({ user_id: "guest:1", guest: true, profile: "guest", data: { cart: ["tea"] } });
  const api = scripted((call) =>
    call.url.endsWith("/sessions/guest") ? json(201, guest) : error(401, "unauthenticated"),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, crossTab: false, keepAlive: false });
  await client.current();
  assert.deepEqual(client.state, { status: "signed-out", reason: "unauthenticated" });
  assert.equal(api.calls.length, 1, "reading the session creates nothing");

  const [one, two] = await Promise.all([
    client.updateData({ cart: ["tea"] }),
    client.updateData({ cart: ["tea"] }),
  ]);

  const posts = api.calls.filter((c) => c.method === "POST");
  assert.equal(posts.length, 1, "one guest session for concurrent writes");
  assert.deepEqual(posts[0]?.body, { token_in_body: false, data: { cart: ["tea"] } });
  assert.equal(api.calls.filter((c) => c.method === "PATCH").length, 0, "its data came with it");
  assert.equal(one.guest, true);
  assert.equal(two.session_id, one.session_id);
  assert.equal(client.state.status, "guest");
});

test("a patch that removes keys starts an empty guest session and patches it; guests: false refuses", async () => {
  const guest = session({ user_id: "guest:1", guest: true, profile: "guest" });
  const api = scripted((call) => {
    if (call.url.endsWith("/sessions/guest")) return json(201, guest);
    if (call.method === "PATCH") return json(200, { ...guest, version: 2, data: { cart: [] } });
    return error(401, "unauthenticated");
  });
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, crossTab: false, keepAlive: false });

  const patched = await client.updateData({ cart: [], coupon: null });

  assert.deepEqual(api.calls.map((c) => c.method), ["GET", "POST", "PATCH"]);
  assert.deepEqual(api.calls[1]?.body, { token_in_body: false });
  assert.equal(api.calls[2]?.headers.get("If-Match"), '"1"');
  assert.equal(patched.version, 2);

  const strict = scripted(() => error(401, "unauthenticated"));
  const noGuests = createSessionClient({ baseUrl: API, fetch: strict.fetch, guests: false, crossTab: false, keepAlive: false });
  await assert.rejects(noGuests.updateData({ cart: [] }), (e: unknown) => e instanceof SessionApiError && e.code === "unauthenticated");
  assert.equal(strict.calls.filter((c) => c.url.endsWith("/sessions/guest")).length, 0);
});

test("signing in as a bearer guest names the guest token, with the app's rule for its data", async () => {
  const guest = session({ user_id: "guest:1", guest: true, token: "guest-token" });
  const api = scripted((call) =>
    call.url.endsWith("/sessions/guest") ? json(201, guest) : json(201, session({ token: "user-token", data: { cart: ["tea"] } })),
  );
  const client = createSessionClient({ baseUrl: API, fetch: api.fetch, mode: "bearer", keepAlive: false });
  await client.updateData({ cart: ["tea"] });
  assert.equal(client.state.status, "guest");

  const signed = await client.signIn("ticket", { guestData: "sign_in_wins" });

  const signIn = api.calls.at(-1);
  assert.deepEqual(signIn?.body, { token_in_body: true, guest_data: "sign_in_wins", guest_token: "guest-token" });
  assert.equal(signIn?.headers.get("Authorization"), "Bearer ticket");
  assert.equal(signed.user_id, "alice");
  assert.equal(client.state.status, "signed-in");
});
