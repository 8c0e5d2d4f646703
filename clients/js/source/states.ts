// The client's session state as a small explicit machine: four states, three events, one
// transition function. The client's methods never set the state; they report what an answer
// said, and `transition` alone decides what the state becomes.
//
//   loading ──session──▶ signed-in ──ended──▶ signed-out
//      │                   ▲   │                 │
//      └──────ended────────┼───┘◀────session─────┘
//                          └── session (a newer copy: refresh, data change)
//
// A session event whose session is a guest's (`guest: true`) goes to `guest` instead of
// `signed-in`, with the same arrows: a guest's sign-in is a session event to `signed-in`.
//
// `told` (another tab's change) takes that tab's state as it is, except `loading`, which says
// nothing a tab can act on.
import type { Cause } from "./tabs.js";
import type { Session, SessionState, SignOutReason } from "./types.js";

/** What an answer, or another tab, said about the session. */
export type SessionEvent =
  /** An answer carried the session (sign-in, read, refresh, data change). */
  | { type: "session"; session: Session; cause: Cause }
  /** The session ended: a 401 with its reason, or a sign-out here (`null`: no session at all). */
  | { type: "ended"; reason: SignOutReason | null }
  /** Another tab of the origin changed the state. */
  | { type: "told"; state: SessionState };

/** The state after `event`: the only place the session state changes. */
export function transition(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case "session":
      return event.session.guest
        ? { status: "guest", session: event.session }
        : { status: "signed-in", session: event.session };
    case "ended":
      return { status: "signed-out", reason: event.reason };
    case "told":
      return event.state.status === "loading" ? state : event.state;
  }
}

/** The session the state holds: a signed-in user's or a guest's; `null` otherwise. */
export function sessionOf(state: SessionState): Session | null {
  return state.status === "signed-in" || state.status === "guest" ? state.session : null;
}

/** What happens on every change: the other tabs told (for changes made here), the keep-alive
 * timer moved, listeners called. */
export interface StateEffects {
  tell(state: SessionState, cause: Cause): void;
  changed(state: SessionState): void;
}

/** The machine: holds the state, applies events through `transition`, runs the effects. */
export class SessionStates {
  private current: SessionState = { status: "loading" };
  private readonly listeners = new Set<(state: SessionState) => void>();

  constructor(private readonly effects: StateEffects) {}

  get state(): SessionState {
    return this.current;
  }

  /** Calls `listener` on every change; returns the function that stops it. */
  subscribe(listener: (state: SessionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies `event`. A change made here (not `told`) is told to the other tabs. */
  dispatch(event: SessionEvent): SessionState {
    const next = transition(this.current, event);
    if (next === this.current) return next;
    this.current = next;
    if (event.type === "session") this.effects.tell(next, event.cause);
    if (event.type === "ended") this.effects.tell(next, "change");
    this.effects.changed(next);
    for (const listener of [...this.listeners]) listener(next);
    return next;
  }
}
