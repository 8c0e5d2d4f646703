// Cross-tab coordination for one session API: every change of state is told to the other tabs
// of the origin (they update without polling), and a refresh runs in one tab at a time (Web
// Locks; where they are missing, a lock negotiated over the BroadcastChannel, or without one a
// lease in localStorage), so tabs refreshing at the same instant cause one rotation: the others
// take its result.
import type { Session, SessionState } from "./types.js";

/** The part of the Web Locks API used here (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** The part of `BroadcastChannel` used here. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  close(): void;
}

/** Why a state is told to the other tabs. */
export type Cause = "refresh" | "change";

interface StateMessage {
  kind: "session-client/state";
  from: string;
  cause: Cause;
  state: SessionState;
}

/**
 * When a tab of the origin last refreshed (ms since the epoch), readable at once by every tab:
 * written before the refresh's lock is released, so the next tab in line sees it even if the
 * broadcast of the new state has not reached it yet.
 */
export interface SharedClock {
  get(): number;
  set(at: number): void;
}

export class Tabs {
  private readonly id = Math.random().toString(36).slice(2);

  constructor(
    private readonly name: string,
    private readonly locks: LockManagerLike | null,
    private readonly channel: ChannelLike | null,
    private readonly lastRefresh: SharedClock,
    onState: (state: SessionState) => void,
  ) {
    channel?.addEventListener("message", ({ data }) => {
      const message = data as Partial<StateMessage> | null;
      if (message?.kind !== "session-client/state" || message.from === this.id || !message.state) return;
      onState(message.state);
    });
  }

  /** Whether some tab refreshed at or after `at`. */
  refreshedSince(at: number): boolean {
    return this.lastRefresh.get() >= at;
  }

  /** Records a refresh made in this tab now. */
  refreshed(): void {
    this.lastRefresh.set(Date.now());
  }

  /** Tells the other tabs; a session token never leaves the tab. */
  tell(state: SessionState, cause: Cause): void {
    const shared: SessionState =
      state.status === "signed-in" ? { status: "signed-in", session: withoutToken(state.session) } : state;
    const message: StateMessage = { kind: "session-client/state", from: this.id, cause, state: shared };
    this.channel?.postMessage(message);
  }

  /** Runs `run` while no other tab runs the same `purpose` (in this tab alone without locks). */
  exclusive<T>(purpose: string, run: () => Promise<T>): Promise<T> {
    return this.locks ? this.locks.request(`${this.name}:${purpose}`, run) : run();
  }

  close(): void {
    this.channel?.close();
  }
}

function withoutToken(session: Session): Session {
  const { token: _token, token_type: _type, ...rest } = session;
  return rest;
}

/** The part of `localStorage` used here. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Where Web Locks are missing: a lease in `localStorage` (owner and expiry), claimed, then
 * confirmed after a short settle (when two tabs claim at once the last writer holds it), and
 * waited for while another tab holds it. A holder that died frees it when the lease expires;
 * a waiter gives up after `patience` and goes ahead (the server still gives concurrent
 * refreshes of one token the same successor).
 */
export function leaseLocks(
  storage: StorageLike,
  options: { now?: () => number; wait?: (ms: number) => Promise<void>; patience?: number } = {},
): LockManagerLike {
  const now = options.now ?? Date.now;
  const wait = options.wait ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const patience = options.patience ?? 10_000;
  const read = (key: string): { owner: string; until: number } | null => {
    try {
      const lease = JSON.parse(storage.getItem(key) ?? "null") as { owner?: unknown; until?: unknown } | null;
      return typeof lease?.owner === "string" && typeof lease.until === "number"
        ? { owner: lease.owner, until: lease.until }
        : null;
    } catch {
      return null;
    }
  };
  return {
    async request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      const key = `${name}:lease`;
      const me = Math.random().toString(36).slice(2);
      const giveUp = now() + patience;
      for (;;) {
        const lease = read(key);
        if (lease === null || lease.until < now()) {
          storage.setItem(key, JSON.stringify({ owner: me, until: now() + 5_000 }));
          await wait(30);
          if (read(key)?.owner === me) break;
        } else if (now() > giveUp) {
          break;
        }
        await wait(20 + Math.random() * 30);
      }
      try {
        return await callback();
      } finally {
        if (read(key)?.owner === me) storage.removeItem(key);
      }
    },
  };
}

interface LockMessage {
  kind: "session-client/lock";
  type: "claim" | "held" | "release";
  name: string;
  from: string;
  at: number;
  to?: string;
}

/**
 * Where Web Locks are missing but `BroadcastChannel` is there: a tab claims a lock by
 * broadcasting a claim and listening for a moment. The holder, and a tab whose own claim is
 * older (by time, then id), answer `held`; a contested claimant waits for the `release` and
 * tries again. A waiter gives up after `patience` and goes ahead (a holder that died sends no
 * release; the server still gives concurrent refreshes of one token one successor).
 */
export function channelLocks(
  channel: ChannelLike,
  options: { now?: () => number; settle?: number; patience?: number } = {},
): LockManagerLike {
  const now = options.now ?? Date.now;
  const settle = options.settle ?? 50;
  const patience = options.patience ?? 10_000;
  const me = Math.random().toString(36).slice(2);
  const held = new Set<string>();
  const pending = new Map<string, { at: number; contested: boolean }>();
  const released = new Map<string, Set<() => void>>();
  const post = (message: Omit<LockMessage, "kind" | "from">) =>
    channel.postMessage({ kind: "session-client/lock", from: me, ...message } satisfies LockMessage);
  const earlier = (a: { at: number; from: string }, b: { at: number; from: string }) =>
    a.at < b.at || (a.at === b.at && a.from < b.from);

  channel.addEventListener("message", ({ data }) => {
    const message = data as Partial<LockMessage> | null;
    if (message?.kind !== "session-client/lock" || !message.name || !message.from) return;
    const { name, from } = message;
    const mine = pending.get(name);
    if (message.type === "claim" && typeof message.at === "number") {
      const theirs = { at: message.at, from };
      if (held.has(name) || (mine && earlier({ at: mine.at, from: me }, theirs))) {
        post({ type: "held", name, at: now(), to: from });
      } else if (mine) {
        mine.contested = true; // their claim is older: ours waits
      }
    } else if (message.type === "held" && message.to === me && mine) {
      mine.contested = true;
    } else if (message.type === "release") {
      for (const wake of released.get(name) ?? []) wake();
    }
  });

  const releaseOf = (name: string, ms: number) =>
    new Promise<void>((resolve) => {
      const wakers = released.get(name) ?? new Set<() => void>();
      released.set(name, wakers);
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
    });

  return {
    async request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      const giveUp = now() + patience;
      for (;;) {
        const claim = { at: now(), contested: false };
        pending.set(name, claim);
        post({ type: "claim", name, at: claim.at });
        await new Promise((resolve) => setTimeout(resolve, settle));
        pending.delete(name);
        if (!claim.contested || now() > giveUp) break;
        await releaseOf(name, Math.max(0, giveUp - now()));
      }
      held.add(name);
      try {
        return await callback();
      } finally {
        held.delete(name);
        post({ type: "release", name, at: now() });
      }
    },
  };
}

/** A tab's own coordination parts (tests pass shared fakes). */
export interface TabParts {
  locks: LockManagerLike | null;
  channel: ChannelLike | null;
  lastRefresh: SharedClock;
}

/** The browser's parts: Web Locks, `BroadcastChannel`, `localStorage`. `null` outside a page. */
export function browserParts(name: string): TabParts | null {
  const scope = globalThis as {
    document?: unknown;
    navigator?: { locks?: LockManagerLike };
    BroadcastChannel?: new (name: string) => ChannelLike;
    localStorage?: StorageLike;
  };
  if (scope.document === undefined) return null;
  const storage = scope.localStorage;
  let memory = 0;
  const key = `${name}:last-refresh`;
  const channel = scope.BroadcastChannel ? new scope.BroadcastChannel(name) : null;
  const fallback = channel ? channelLocks(channel) : storage ? leaseLocks(storage) : null;
  return {
    locks: scope.navigator?.locks ?? fallback,
    channel,
    lastRefresh: {
      get: () => {
        try {
          return Math.max(memory, Number(storage?.getItem(key) ?? 0) || 0);
        } catch {
          return memory;
        }
      },
      set: (at) => {
        memory = at;
        try {
          storage?.setItem(key, String(at));
        } catch {
          // Storage may be disabled; the lock still serializes the refreshes.
        }
      },
    },
  };
}
