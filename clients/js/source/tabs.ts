// Cross-tab coordination for one session API: every change of state is told to the other tabs
// of the origin (they update without polling), and a refresh runs in one tab at a time (Web
// Locks; where they are missing, a lock negotiated over the BroadcastChannel, or without one a
// lease in localStorage, each loaded only by a browser that needs it), so tabs refreshing at the
// same instant cause one rotation: the others take its result.
import type { StorageLike } from "./lease-locks.js";
import { onDemand } from "./on-demand.js";
import type { Session, SessionState } from "./types.js";

/** The part of the Web Locks API used here (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** The Web Locks API as browsers have it (the fallbacks lack it): shared locks, and `query`, a
 * snapshot of the locks held, taken where every tab's locks are granted, so it is never behind
 * a grant (where `localStorage` and messages may reach a tab late). */
export interface SharedLocksLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  request<T>(name: string, options: { mode: "shared" }, callback: () => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
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

/** A session token for another service a tab holds (service-tokens.ts), when it stops being
 * handed out (ms since the epoch, which also names it), and the session it speaks for. */
interface TokenMessage {
  kind: "session-client/token";
  from: string;
  audience: string;
  token: string;
  renewAt: number;
  session: string;
}

/** A tab asks the others for the token of `audience` that the shared locks say one of them
 * holds (service-tokens.ts). */
interface WantedMessage {
  kind: "session-client/token-wanted";
  from: string;
  audience: string;
}

/** What the tokens for other services hear from the other tabs. */
export interface TokenEvents {
  /** Another tab tells a token it holds, of `session`. */
  received(audience: string, token: string, renewAt: number, session: string): void;
  /** Another tab asks for the token of `audience`. */
  wanted(audience: string): void;
}

/**
 * When a tab of the origin last refreshed (ms since the epoch), in `localStorage`: written before
 * the refresh's lock is released. Another tab's copy of it may lag (Chromium gives each tab its
 * own), so it is one of three records: with Web Locks, a lock named after the refresh's time;
 * with the lock negotiated over the channel, the refresh's message, which comes before the
 * lock's release.
 */
export interface SharedClock {
  get(): number;
  set(at: number): void;
}

export class Tabs {
  private readonly id = Math.random().toString(36).slice(2);
  /** When this tab last heard of another tab's refresh. */
  private heardRefresh = 0;

  constructor(
    private readonly name: string,
    private readonly locks: LockManagerLike | null,
    private readonly channel: ChannelLike | null,
    private readonly lastRefresh: SharedClock,
    onState: (state: SessionState) => void,
    tokens: TokenEvents | null = null,
  ) {
    channel?.addEventListener("message", ({ data }) => {
      const message = data as (Partial<StateMessage> & Partial<TokenMessage>) | null;
      if (!message || message.from === this.id) return;
      if (message.kind === "session-client/state" && message.state) {
        // Heard before the lock's release where the lock is negotiated on this channel.
        if (message.cause === "refresh") this.heardRefresh = Date.now();
        onState(message.state);
      }
      // Only this origin's tabs share the channel.
      if (message.kind === "session-client/token") tokens?.received(message.audience!, message.token!, message.renewAt!, message.session!);
      if (message.kind === "session-client/token-wanted") tokens?.wanted(message.audience!);
    });
  }

  /** Tells the other tabs a session token for another service this tab holds. */
  shareToken(audience: string, token: string, renewAt: number, session: string): void {
    const message: TokenMessage = { kind: "session-client/token", from: this.id, audience, token, renewAt, session };
    this.channel?.postMessage(message);
  }

  /** Asks the other tabs for the token of `audience` they hold. */
  wantToken(audience: string): void {
    const message: WantedMessage = { kind: "session-client/token-wanted", from: this.id, audience };
    this.channel?.postMessage(message);
  }

  /** Whether some tab refreshed at or after `at`. */
  async refreshedSince(at: number): Promise<boolean> {
    const times = await this.held("refreshed:");
    return Math.max(this.heardRefresh, this.lastRefresh.get(), ...(times ?? []).map(Number)) >= at;
  }

  /** Records a refresh made in this tab now, for the next `window` ms (before the refresh's
   * lock is let go): in the shared clock, and, with Web Locks, in a lock named after its time,
   * which the next tab in line sees at once, where `localStorage` may show it late. */
  async refreshed(window: number): Promise<void> {
    const now = Date.now();
    this.lastRefresh.set(now);
    const release = await this.hold(`refreshed:${now}`);
    if (release) setTimeout(release, window);
  }

  /** Holds the shared lock `purpose` until the function it resolves to is called or the tab
   * closes, resolving once it is held, when every tab's `query` sees it; `null` without Web
   * Locks. */
  hold(purpose: string): Promise<() => void> | null {
    const locks = this.sharedLocks();
    if (!locks) return null;
    return new Promise((held) => {
      const holding = () => new Promise<void>((release) => held(release));
      locks.request(`${this.name}:${purpose}`, { mode: "shared" }, holding).catch(() => held(() => {}));
    });
  }

  /** What follows `prefix` in the purposes of the locks every tab holds now; `null` without
   * Web Locks. */
  async held(prefix: string): Promise<string[] | null> {
    const locks = this.sharedLocks();
    if (!locks) return null;
    const start = `${this.name}:${prefix}`;
    const { held = [] } = await locks.query();
    return held.flatMap(({ name }) => (name?.startsWith(start) ? [name.slice(start.length)] : []));
  }

  /** The locks, if they are Web Locks that can be shared and queried (their fallbacks cannot). */
  private sharedLocks(): SharedLocksLike | null {
    const locks = this.locks as Partial<SharedLocksLike> | null;
    return typeof locks?.query === "function" ? (locks as SharedLocksLike) : null;
  }

  /** Tells the other tabs; the session's own token never leaves the tab. */
  tell(state: SessionState, cause: Cause): void {
    const shared: SessionState =
      state.status === "signed-in" || state.status === "guest"
        ? { status: state.status, session: withoutToken(state.session) }
        : state;
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

/** A tab's own coordination parts (tests pass shared fakes). */
export interface TabParts {
  locks: LockManagerLike | null;
  channel: ChannelLike | null;
  lastRefresh: SharedClock;
}

/** A clock the tabs of the origin share: `localStorage` under `key`, and this tab's memory where
 * storage is disabled. */
function storedClock(storage: StorageLike | undefined, key: string): SharedClock {
  let memory = 0;
  return {
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
        // Storage may be disabled; the lock still serializes the calls.
      }
    },
  };
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
  const channel = scope.BroadcastChannel ? new scope.BroadcastChannel(name) : null;
  // Browsers before 2022 lack Web Locks: their fallback is loaded when it is first needed (a tab
  // that has asked for no lock has no claim to defend, so it need not listen before).
  const fallback = channel
    ? locksOnDemand(() => import("./channel-locks.js").then(({ channelLocks }) => channelLocks(channel)))
    : storage
      ? locksOnDemand(() => import("./lease-locks.js").then(({ leaseLocks }) => leaseLocks(storage)))
      : null;
  return {
    locks: scope.navigator?.locks ?? fallback,
    channel,
    lastRefresh: storedClock(storage, `${name}:last-refresh`),
  };
}

/** A lock manager made by `load` when its first lock is asked for (on-demand.ts). */
function locksOnDemand(load: () => Promise<LockManagerLike>): LockManagerLike {
  const loaded = onDemand(load);
  return { request: (name, callback) => loaded().then((made) => made.request(name, callback)) };
}
