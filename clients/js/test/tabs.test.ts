// Tabs of one origin, as separate clients in one process: a real BroadcastChannel between them,
// a lock manager that serializes like the Web Locks API, a shared last-refresh clock. The
// scripted API rotates like the server: each refresh a new version.
import assert from "node:assert/strict";
import { test } from "node:test";

import { channelLocks } from "../source/channel-locks.js";
import { createSessionClient } from "../source/index.js";
import { leaseLocks } from "../source/lease-locks.js";
import type { ChannelLike, LockManagerLike, Session, SessionClient, SharedLocksLike, TabParts } from "../source/index.js";

const API = "https://api.example.com";

/** Serializes callbacks per lock name, first come first served (what `navigator.locks` does
 * with an exclusive lock); `plainLocks` stops there, like the fallbacks of browsers without Web
 * Locks. */
function plainLocks(): LockManagerLike {
  const tails = new Map<string, Promise<unknown>>();
  return {
    request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      const previous = tails.get(name) ?? Promise.resolve();
      const run = previous.then(callback, callback);
      tails.set(name, run.catch(() => undefined));
      return run;
    },
  };
}

/** `navigator.locks` whole: exclusive locks as above, shared locks held alongside each other,
 * and `query()` listing the held ones as they are at that moment. */
function lockManager(): SharedLocksLike {
  const exclusive = plainLocks();
  const held = new Map<string, number>();
  const holding = <T>(name: string, callback: () => Promise<T>) => async () => {
    held.set(name, (held.get(name) ?? 0) + 1);
    try {
      return await callback();
    } finally {
      const left = held.get(name)! - 1;
      if (left > 0) held.set(name, left);
      else held.delete(name);
    }
  };
  return {
    request<T>(name: string, ...args: [() => Promise<T>] | [{ mode: "shared" }, () => Promise<T>]): Promise<T> {
      if (args.length === 2) return holding(name, args[1])();
      return exclusive.request(name, holding(name, args[0]));
    },
    query: async () => ({ held: [...held.keys()].map((name) => ({ name })) }),
  } as SharedLocksLike;
}

function session(version: number): Session {
  return {
    session_id: "6f1c0000-0000-4000-8000-000000000000",
    user_id: "alice",
    tenant_id: null,
    data: { version },
    version,
    created_at: "2026-11-25T10:00:00.000Z",
    last_seen_at: "2026-11-25T10:00:00.000Z",
    expires_at: "2026-11-25T18:00:00.000Z",
    absolute_expires_at: "2026-12-02T10:00:00.000Z",
    authenticated_at: "2026-11-25T10:00:00.000Z",
    amr: [],
    acr: null,
    profile: "default",
    guest: false,
  };
}

/** The scripted API of one browser: the cookie jar is shared by its tabs, so one server. */
function server(tokenLifetime = 300, startSignedIn = true) {
  let version = 1;
  let minted = 0;
  let signedIn = startSignedIn;
  let guests = 0;
  let sessions = 1;
  const ours = () => ({ ...session(version), ...(sessions > 1 ? { session_id: `s-${sessions}` } : {}) });
  const calls: string[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const method = init.method ?? "GET";
    const path = new URL(input.toString()).pathname;
    calls.push(`${method} ${path}`);
    // What the request's cookie says, as it left the browser.
    const cookieHadGuest = guests > 0;
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (method === "POST" && path === "/sessions") {
      // A sign-in: a session of its own.
      signedIn = true;
      sessions += 1;
      return new Response(JSON.stringify(ours()), { status: 201 });
    }
    if (!signedIn && !(method === "POST" && path === "/sessions/guest") && guests === 0) {
      return new Response(JSON.stringify({ error: { code: "unauthenticated", message: "no" } }), { status: 401 });
    }
    if (method === "DELETE") {
      signedIn = false;
      return new Response(null, { status: 204 });
    }
    if (method === "POST" && path === "/sessions/guest") {
      // The browser's one cookie jar: a guest cookie set by one tab is sent by every tab, and
      // the server answers a usable session with itself (200) instead of starting another.
      const created = !cookieHadGuest;
      if (created) guests += 1;
      const guest = { ...session(version), user_id: "guest:1", guest: true, data: {} };
      return new Response(JSON.stringify(guest), { status: created ? 201 : 200 });
    }
    if (method === "PATCH") {
      version += 1;
      return new Response(JSON.stringify({ ...session(version), user_id: "guest:1", guest: true }), { status: 200 });
    }
    if (method === "POST" && path === "/sessions/current/refresh") version += 1;
    if (method === "POST" && path === "/sessions/current/token") {
      const { audience = "orders" } = JSON.parse(String(init.body ?? "{}")) as { audience?: string };
      minted += 1;
      const body = { token: `jwt-${audience}-${minted}`, audience, expires_at: "", expires_in: tokenLifetime };
      return new Response(JSON.stringify(body), { status: 200 });
    }
    return new Response(JSON.stringify(ours()), { status: 200 });
  };
  return { calls, fetch: fetch as typeof globalThis.fetch, guestsCreated: () => guests };
}

test("a refresh asked moments after another tab's takes its result", async () => {
  const api = server();
  const [a, b] = tabs(2, api);
  try {
    await a!.refresh();
    await settle();
    const later = await b!.refresh();

    assert.equal(api.calls.filter((c) => c === "POST /sessions/current/refresh").length, 1);
    assert.equal(later?.version, 2, "the session as the first refresh left it");
  } finally {
    a!.close();
    b!.close();
  }
});

/** A clock per key, shared by the tabs (what `localStorage` is to a browser's tabs). */
function sharedClocks(): (key: string) => { get(): number; set(at: number): void } {
  const times = new Map<string, number>();
  return (key) => ({ get: () => times.get(key) ?? 0, set: (at) => void times.set(key, at) });
}

/** A BroadcastChannel whose messages arrive `delay` ms late (a busy machine's tabs). */
function slowChannel(name: string, delay: number): ChannelLike {
  const channel = new BroadcastChannel(name);
  let open = true;
  return {
    // A message still on its way when the tab closes is lost, as in a browser.
    postMessage: (message) => void setTimeout(() => open && channel.postMessage(message), delay),
    addEventListener: (type, listener) => channel.addEventListener(type, (event) => listener(event as MessageEvent)),
    close: () => {
      open = false;
      channel.close();
    },
  };
}

/** How the tabs of `browser` below coordinate: `locks` `"channel"` is the lock negotiated over
 * each tab's channel (browsers without Web Locks); `storage` `"lagging"` shows a tab none of the
 * others' writes (a tab of Chromium reads `localStorage` from its own copy, which the others'
 * writes reach late). */
interface BrowserKind {
  locks?: "web" | "channel";
  storage?: "shared" | "lagging";
}

/** Tabs on one server, coordinated through one channel name, one lock manager: `open()` opens
 * one more (it hears only what is said from then on). */
function browser(
  api: { fetch: typeof globalThis.fetch },
  coalesceRefreshes?: number,
  channelDelay = 0,
  kind: BrowserKind = {},
): { open(): SessionClient } {
  const name = `tabs-test-${Math.random()}`;
  const webLocks = lockManager();
  const shared = sharedClocks();
  return {
    open() {
      const channel = channelDelay > 0 ? slowChannel(name, channelDelay) : new BroadcastChannel(name);
      const lastRefresh = (kind.storage === "lagging" ? sharedClocks() : shared)("last-refresh");
      const locks = kind.locks === "channel" ? channelLocks(channel) : webLocks;
      const parts: TabParts = { locks, channel, lastRefresh };
      return createSessionClient({
        baseUrl: API,
        fetch: api.fetch,
        crossTab: parts,
        ...(coalesceRefreshes === undefined ? {} : { coalesceRefreshes }),
      });
    },
  };
}

/** `count` tabs of one browser. */
function tabs(
  count: number,
  api: { fetch: typeof globalThis.fetch },
  coalesceRefreshes?: number,
  channelDelay = 0,
  kind: BrowserKind = {},
): SessionClient[] {
  const one = browser(api, coalesceRefreshes, channelDelay, kind);
  return Array.from({ length: count }, () => one.open());
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

for (const [kind, how] of [
  [{}, ""],
  [{ storage: "lagging" }, ", their localStorage not yet showing it (Web Locks name the refresh)"],
] as const) {
  test(`five tabs refreshing at the same instant cause one rotation and all stay signed in${how}`, async () => {
    const api = server();
    const five = tabs(5, api, undefined, 150, kind);
    try {
      await Promise.all(five.map((tab) => tab.current()));

      const answers = await Promise.all(five.map((tab) => tab.refresh()));
      await settle();

      assert.equal(api.calls.filter((c) => c === "POST /sessions/current/refresh").length, 1);
      assert.deepEqual(answers.map((s) => s?.version), [2, 2, 2, 2, 2]);
      for (const tab of five) {
        assert.equal(tab.state.status === "signed-in" && tab.state.session.version, 2);
      }
    } finally {
      for (const tab of five) tab.close();
    }
  });
}

test("a refresh asked after the last one finished rotates again (coalescing off)", async () => {
  const api = server();
  const [a, b] = tabs(2, api, 0);
  try {
    await a!.refresh();
    await settle();
    await b!.refresh();

    assert.equal(api.calls.filter((c) => c === "POST /sessions/current/refresh").length, 2);
  } finally {
    a!.close();
    b!.close();
  }
});

test("signing out in one tab signs the others out without a request of theirs", async () => {
  const api = server();
  const [a, b, c] = tabs(3, api);
  try {
    await Promise.all([a!.current(), b!.current(), c!.current()]);
    const before = api.calls.length;

    await a!.signOut();
    await settle();

    assert.deepEqual(b!.state, { status: "signed-out", reason: "signed_out" });
    assert.deepEqual(c!.state, { status: "signed-out", reason: "signed_out" });
    assert.equal(api.calls.length, before + 1, "only the sign-out itself");
  } finally {
    for (const tab of [a, b, c]) tab!.close();
  }
});

test("no token is ever told to the other tabs", async () => {
  const name = `tabs-test-${Math.random()}`;
  const heard: unknown[] = [];
  const listener = new BroadcastChannel(name);
  listener.onmessage = (event) => heard.push(event.data);
  const fetch = (async () =>
    new Response(JSON.stringify({ ...session(1), token: "secret-token", token_type: "Bearer" }), {
      status: 201,
    })) as typeof globalThis.fetch;
  const lastRefresh = { get: () => 0, set: () => undefined };
  const tab = createSessionClient({
    baseUrl: API,
    fetch,
    crossTab: { locks: null, channel: new BroadcastChannel(name), lastRefresh },
  });
  try {
    await tab.signIn("ticket");
    await settle();

    assert.equal(heard.length, 1);
    assert.ok(!JSON.stringify(heard).includes("secret-token"), JSON.stringify(heard));
  } finally {
    tab.close();
    listener.close();
  }
});

test("without Web Locks, a lease in localStorage makes five simultaneous refreshes one rotation", async () => {
  const api = server();
  const items = new Map<string, string>();
  const storage = {
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
  // Each tab its own lease client over the one shared storage, as separate pages would have.
  const name = `tabs-test-${Math.random()}`;
  let lastRefresh = 0;
  const clock = { get: () => lastRefresh, set: (at: number) => void (lastRefresh = at) };
  const shared = Array.from({ length: 5 }, () =>
    createSessionClient({
      baseUrl: API,
      fetch: api.fetch,
      crossTab: { locks: leaseLocks(storage), channel: new BroadcastChannel(name), lastRefresh: clock },
    }),
  );
  try {
    await Promise.all(shared.map((tab) => tab.current()));

    await Promise.all(shared.map((tab) => tab.refresh()));

    assert.equal(api.calls.filter((c) => c === "POST /sessions/current/refresh").length, 1);
    assert.equal(items.size, 0, "every lease released");
  } finally {
    for (const tab of shared) tab.close();
  }
});

test("without Web Locks, a lock negotiated over the BroadcastChannel makes five refreshes one rotation, localStorage lagging", async () => {
  const api = server();
  const name = `tabs-test-${Math.random()}`;
  const five = Array.from({ length: 5 }, () => {
    const channel = new BroadcastChannel(name);
    // Each tab's own clock: none sees another's refresh there (the refresh's message, sent
    // before the lock's release on the same channel, tells it).
    const clock = sharedClocks()("last-refresh");
    return createSessionClient({
      baseUrl: API,
      fetch: api.fetch,
      crossTab: { locks: channelLocks(channel), channel, lastRefresh: clock },
    });
  });
  try {
    await Promise.all(five.map((tab) => tab.current()));

    const answers = await Promise.all(five.map((tab) => tab.refresh()));

    assert.equal(api.calls.filter((c) => c === "POST /sessions/current/refresh").length, 1);
    assert.deepEqual(answers.map((s) => s?.version), [2, 2, 2, 2, 2]);
  } finally {
    for (const tab of five) tab.close();
  }
});

const mints = (api: ReturnType<typeof server>) => api.calls.filter((c) => c === "POST /sessions/current/token").length;

test("five tabs asking for a token at once mint one, and every tab gets it", async () => {
  const api = server();
  const five = tabs(5, api);
  try {
    await Promise.all(five.map((tab) => tab.current()));
    const tokens = await Promise.all(five.map((tab) => tab.getToken({ audience: "orders" })));
    assert.equal(mints(api), 1);
    assert.deepEqual(new Set(tokens), new Set(["jwt-orders-1"]));
    // Kept: asked again, no request; another audience is its own token.
    assert.equal(await five[3]!.getToken({ audience: "orders" }), "jwt-orders-1");
    assert.equal(await five[0]!.getToken({ audience: "search" }), "jwt-search-2");
    assert.equal(mints(api), 2);
  } finally {
    for (const tab of five) tab.close();
  }
});

test("a token minted while another tab waited is handed over, however late its message comes", async () => {
  const api = server();
  const five = tabs(5, api, undefined, 150);
  try {
    await Promise.all(five.map((tab) => tab.current()));
    const tokens = await Promise.all(five.map((tab) => tab.getToken({ audience: "orders" })));
    assert.equal(mints(api), 1, "one mint across the tabs");
    assert.deepEqual(new Set(tokens), new Set(["jwt-orders-1"]));
  } finally {
    for (const tab of five) tab.close();
  }
});

test("a tab asking just after another minted, before the token's message reaches it, mints none", async () => {
  const api = server();
  const [a, b] = tabs(2, api, undefined, 150);
  try {
    await Promise.all([a!.current(), b!.current()]);
    const first = await a!.getToken({ audience: "orders" });
    // Some ms later, A's message still on its way to B (150 ms).
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await b!.getToken({ audience: "orders" }), first);
    assert.equal(mints(api), 1);
  } finally {
    a!.close();
    b!.close();
  }
});

for (const [kind, delay, how] of [
  [{}, 150, "over a slow channel (Web Locks name the token's holders)"],
  [{ locks: "channel" }, 0, "without Web Locks (the token's message comes before the lock's release)"],
] as const) {
  test(`five tabs asking at once mint one token, ${how}`, async () => {
    const api = server();
    const five = tabs(5, api, undefined, delay, kind);
    try {
      await Promise.all(five.map((tab) => tab.current()));
      const tokens = await Promise.all(five.map((tab) => tab.getToken({ audience: "orders" })));
      assert.equal(mints(api), 1, "one mint across the tabs");
      assert.deepEqual(new Set(tokens), new Set(["jwt-orders-1"]));
      // Signed out and in again: the old session's token is held no more, nobody waits for it.
      await five[0]!.signOut();
      await five[0]!.signIn("ticket");
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await five[2]!.getToken({ audience: "orders" }), "jwt-orders-2");
    } finally {
      for (const tab of five) tab.close();
    }
  });
}

test("a tab opened after the mint asks the other tabs for the token instead of minting", async () => {
  const api = server();
  const tabsOf = browser(api);
  const a = tabsOf.open();
  try {
    await a.current();
    const first = await a.getToken({ audience: "orders" });
    const late = tabsOf.open();
    try {
      await late.current();
      assert.equal(await late.getToken({ audience: "orders" }), first);
      assert.equal(mints(api), 1);
    } finally {
      late.close();
    }
  } finally {
    a.close();
  }
});

test("a forced token is minted at once when the refused one is the newest, and shared", async () => {
  const api = server();
  const [a, b] = tabs(2, api);
  try {
    await Promise.all([a!.current(), b!.current()]);
    const refused = await a!.getToken({ audience: "orders" });
    assert.equal(await b!.getToken({ audience: "orders" }), refused, "handed over");
    // The service refuses it: B forces a new one.
    const renewed = await b!.getToken({ audience: "orders", force: true });
    assert.notEqual(renewed, refused);
    await settle();
    assert.equal(await a!.getToken({ audience: "orders" }), renewed, "the other tab took the new one");
    assert.equal(mints(api), 2);
  } finally {
    a!.close();
    b!.close();
  }
});

test("a token minted for a session that ended meanwhile is kept by no tab", async () => {
  // One browser: alice's session s-1, then bob signs in (s-2) while a tab's mint is on its way.
  let current = "s-1";
  let minted = 0;
  let answerFirstMint = () => {};
  const firstMintHeld = new Promise<void>((resolve) => (answerFirstMint = resolve));
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const path = new URL(input.toString()).pathname;
    if (path === "/sessions/current/token") {
      const of = current;
      minted += 1;
      const token = `jwt-${of}-${minted}`;
      if (minted === 1) await firstMintHeld;
      return json({ token, audience: "orders", expires_at: "", expires_in: 300 });
    }
    if (init.method === "POST" && path === "/sessions") {
      current = "s-2";
      return json({ ...session(1), session_id: current, user_id: "bob" }, 201);
    }
    return json({ ...session(1), session_id: current, user_id: current === "s-1" ? "alice" : "bob" });
  };
  const [a, b] = tabs(2, { fetch: fetch as typeof globalThis.fetch });
  try {
    await Promise.all([a!.current(), b!.current()]);
    const asked = b!.getToken({ audience: "orders" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await a!.signIn("bob's ticket");
    await settle();
    answerFirstMint();
    assert.equal(await asked, "jwt-s-1-1", "the caller asked under alice's session");
    await settle();

    assert.equal(await a!.getToken({ audience: "orders" }), "jwt-s-2-2", "bob's tab never takes alice's token");
    await settle();
    assert.equal(await b!.getToken({ audience: "orders" }), "jwt-s-2-2");
    assert.equal(minted, 2);
  } finally {
    a!.close();
    b!.close();
  }
});

test("two tabs writing at once without a session start one guest session", async () => {
  const api = server(300, false);
  const [a, b] = tabs(2, api);
  try {
    await Promise.all([a!.current(), b!.current()]);

    const [one, two] = await Promise.all([a!.updateData({ cart: ["tea"] }), b!.updateData({ coupon: "x" })]);

    assert.equal(api.guestsCreated(), 1, "one guest session for the two tabs");
    assert.equal(api.calls.filter((c) => c === "POST /sessions/guest").length, 2);
    assert.equal(one.session_id, two.session_id);
    assert.equal(a!.state.status, "guest");
    assert.equal(b!.state.status, "guest");
  } finally {
    a!.close();
    b!.close();
  }
});

test("a kept token is renewed shortly before it expires, and none outlives the session", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const api = server(40);
  const [tab] = tabs(1, api);
  try {
    await tab!.current();
    assert.equal(await tab!.getToken(), "jwt-orders-1");
    t.mock.timers.tick(19_000);
    assert.equal(await tab!.getToken(), "jwt-orders-1", "kept for half of a 40 s life");
    t.mock.timers.tick(2_000);
    assert.equal(await tab!.getToken(), "jwt-orders-2", "renewed 20 s before it expires");
    assert.equal(await tab!.getToken({ force: true }), "jwt-orders-3", "forced: a new one");
    assert.equal(await tab!.getToken(), "jwt-orders-3");
    await tab!.signOut();
    await assert.rejects(tab!.getToken(), (error: unknown) => (error as { status?: number }).status === 401);
    assert.equal(tab!.state.status, "signed-out");
    assert.equal(mints(api), 4, "a sign-out forgets the kept token");
  } finally {
    tab!.close();
  }
});
