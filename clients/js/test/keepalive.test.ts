// Keep-alive with a scripted page: its own clock, its own timers, events fired by the test.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createSessionClient } from "../source/index.js";
import type { KeepAliveEnvironment, Session } from "../source/index.js";

const API = "https://api.example.com";
const HOUR = 3_600_000;

/** A page whose time only moves when the test says so. */
function page() {
  let now = Date.parse("2026-11-25T10:00:00.000Z");
  const listeners = { back: new Set<() => void>(), activity: new Set<() => void>() };
  const timers = new Set<{ at: number; run: () => void }>();
  const environment: KeepAliveEnvironment = {
    now: () => now,
    on(event, listener) {
      listeners[event].add(listener);
      return () => listeners[event].delete(listener);
    },
    timer(ms, run) {
      const timer = { at: now + ms, run };
      timers.add(timer);
      return () => timers.delete(timer);
    },
  };
  return {
    environment,
    fire: (event: "back" | "activity") => [...listeners[event]].forEach((l) => l()),
    /** Moves the clock, running the timers that fall due on the way. */
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers.delete(due);
        now = due.at;
        due.run();
      }
      now = until;
    },
    get now() {
      return now;
    },
  };
}

/** An API whose sessions end 8 h after the last contact; counts the calls by route. */
function api(clock: { now: number }) {
  const calls: string[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    calls.push(`${init.method ?? "GET"} ${new URL(input.toString()).pathname}`);
    const session: Session = {
      session_id: "6f1c0000-0000-4000-8000-000000000000",
      user_id: "alice",
      tenant_id: null,
      data: {},
      version: 1,
      created_at: new Date(clock.now).toISOString(),
      last_seen_at: new Date(clock.now).toISOString(),
      expires_at: new Date(clock.now + 8 * HOUR).toISOString(),
      absolute_expires_at: new Date(clock.now + 7 * 24 * HOUR).toISOString(),
      authenticated_at: new Date(clock.now).toISOString(),
      amr: [],
      acr: null,
      profile: "default",
      guest: false,
    };
    return new Response(JSON.stringify(session), { status: 200 });
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 5));

/** A client in `tab` on `server`, with keep-alive on and no other tabs. */
function clientIn(tab: ReturnType<typeof page>, server: ReturnType<typeof api>, revalidateAfter?: number) {
  return createSessionClient({
    baseUrl: API,
    fetch: server.fetch,
    crossTab: false,
    keepAlive: { environment: tab.environment, ...(revalidateAfter === undefined ? {} : { revalidateAfter }) },
  });
}

test("coming back to the page revalidates, at most once per interval", async () => {
  const tab = page();
  const server = api(tab);
  const client = clientIn(tab, server, 30_000);
  await client.current();

  tab.advance(10_000);
  tab.fire("back");
  tab.advance(40_000);
  tab.fire("back");
  tab.fire("back");
  await flush();

  assert.deepEqual(server.calls, ["GET /sessions/current", "GET /sessions/current"]);
  client.close();
});

test("an active user is refreshed shortly before the idle deadline; an idle one is not", async () => {
  for (const active of [true, false]) {
    const tab = page();
    const server = api(tab);
    const client = clientIn(tab, server);
    await client.current();

    tab.advance(HOUR);
    if (active) tab.fire("activity");
    tab.advance(6.97 * HOUR); // 7 h 58 min in: past the refresh point (5 min before 8 h)
    await flush();

    const refreshes = server.calls.filter((c) => c === "POST /sessions/current/refresh").length;
    assert.equal(refreshes, active ? 1 : 0, active ? "active user" : "idle user");
    client.close();
  }
});

test("signing out cancels the pending refresh", async () => {
  const tab = page();
  const server = api(tab);
  const client = clientIn(tab, server);
  await client.current();
  tab.fire("activity");

  await client.signOut();
  tab.advance(8 * HOUR);
  await flush();

  assert.ok(!server.calls.includes("POST /sessions/current/refresh"), server.calls.join(", "));
  client.close();
});
