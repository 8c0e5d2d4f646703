// The client's state machine on its own: every transition, and what each change sets off.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SessionStates, transition } from "../source/states.js";
import type { SessionEvent } from "../source/states.js";
import type { Session, SessionState } from "../source/index.js";

function session(version: number): Session {
  return {
    session_id: "6f1c0000-0000-4000-8000-000000000000",
    user_id: "alice",
    tenant_id: null,
    data: {},
    version,
    created_at: "2026-01-01T00:00:00.000Z",
    last_seen_at: "2026-01-01T00:00:00.000Z",
    expires_at: "2026-01-01T08:00:00.000Z",
    absolute_expires_at: "2026-01-08T00:00:00.000Z",
    authenticated_at: "2026-01-01T00:00:00.000Z",
    amr: [],
    acr: null,
    profile: "default",
    guest: false,
  };
}

const loading: SessionState = { status: "loading" };
const signedIn: SessionState = { status: "signed-in", session: session(1) };
const signedOut: SessionState = { status: "signed-out", reason: "signed_out" };

test("every state goes to signed-in on a session and to signed-out when it ends", () => {
  for (const from of [loading, signedIn, signedOut]) {
    assert.deepEqual(transition(from, { type: "session", session: session(2), cause: "change" }), {
      status: "signed-in",
      session: session(2),
    });
    assert.deepEqual(transition(from, { type: "ended", reason: "session_revoked" }), {
      status: "signed-out",
      reason: "session_revoked",
    });
  }
});

test("a guest's session goes to guest, and its sign-in's session to signed-in", () => {
  const guest = { ...session(1), user_id: "guest:1", guest: true };
  for (const from of [loading, signedIn, signedOut]) {
    assert.deepEqual(transition(from, { type: "session", session: guest, cause: "change" }), {
      status: "guest",
      session: guest,
    });
  }
  const asGuest: SessionState = { status: "guest", session: guest };
  assert.deepEqual(transition(asGuest, { type: "session", session: session(2), cause: "change" }), {
    status: "signed-in",
    session: session(2),
  });
  assert.deepEqual(transition(asGuest, { type: "ended", reason: "signed_out" }), signedOut);
});

test("another tab's state is taken as it is, except loading, which changes nothing", () => {
  assert.deepEqual(transition(loading, { type: "told", state: signedIn }), signedIn);
  assert.deepEqual(transition(signedIn, { type: "told", state: signedOut }), signedOut);
  assert.equal(transition(signedIn, { type: "told", state: loading }), signedIn);
});

test("a change made here is told to the other tabs, one told by them is not told back", () => {
  const told: string[] = [];
  const changed: SessionState[] = [];
  const heard: SessionState[] = [];
  const states = new SessionStates({
    tell: (state, cause) => told.push(`${state.status}:${cause}`),
    changed: (state) => changed.push(state),
  });
  const stop = states.subscribe((state) => heard.push(state));
  const events: SessionEvent[] = [
    { type: "session", session: session(1), cause: "refresh" },
    { type: "told", state: loading },
    { type: "told", state: signedOut },
    { type: "ended", reason: null },
  ];
  for (const event of events) states.dispatch(event);
  stop();
  states.dispatch({ type: "session", session: session(3), cause: "change" });

  assert.deepEqual(told, ["signed-in:refresh", "signed-out:change", "signed-in:change"]);
  assert.deepEqual(
    changed.map((s) => s.status),
    ["signed-in", "signed-out", "signed-out", "signed-in"],
    "a tab's loading changes nothing",
  );
  assert.equal(heard.length, 3, "unsubscribed before the last");
  assert.equal(states.state.status, "signed-in");
});
