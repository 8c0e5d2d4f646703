// Cross-tab coordination for one session API: every change of state is told to the other tabs
// of the origin (they update without polling), and a refresh runs in one tab at a time (Web
// Locks; where they are missing, a lock negotiated over the BroadcastChannel, or without one a
// lease in localStorage, each loaded only by a browser that needs it), so tabs refreshing at the
// same instant cause one rotation: the others take its result.
import type { StorageLike } from "./lease-locks.js";
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

/** A tab asks the others for the token of `audience` the shared clock says one of them holds. */
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
    tokens: TokenEvents | null = null,
    private readonly mintClock: (key: string) => SharedClock = memoryClocks(),
  ) {
    channel?.addEventListener("message", ({ data }) => {
      const message = data as (Partial<StateMessage> & Partial<TokenMessage>) | null;
      if (!message || message.from === this.id) return;
      if (message.kind === "session-client/state" && message.state) onState(message.state);
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
  refreshedSince(at: number): boolean {
    return this.lastRefresh.get() >= at;
  }

  /** Records a refresh made in this tab now. */
  refreshed(): void {
    this.lastRefresh.set(Date.now());
  }

  /** When the newest token for another service of `key` a tab minted stops being handed out
   * (0: none). */
  mintedUntil(key: string): number {
    return this.mintClock(key).get();
  }

  /** Records a mint of `key` made in this tab (before the lock is let go); 0 clears it. */
  minted(key: string, renewAt: number): void {
    this.mintClock(key).set(renewAt);
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
  /** Until when the newest token for another service a tab minted is handed out, per audience
   * (default: this tab's memory). */
  mintClock?: (key: string) => SharedClock;
}

/** Clocks in this tab's memory alone, one per key. */
function memoryClocks(): (key: string) => SharedClock {
  const times = new Map<string, number>();
  return (key) => ({ get: () => times.get(key) ?? 0, set: (at) => void times.set(key, at) });
}

/** A clock every tab of the origin reads at once: `localStorage` under `key`, and this tab's
 * memory where storage is disabled. */
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
    ? onDemand(() => import("./channel-locks.js").then(({ channelLocks }) => channelLocks(channel)))
    : storage
      ? onDemand(() => import("./lease-locks.js").then(({ leaseLocks }) => leaseLocks(storage)))
      : null;
  const mintClocks = new Map<string, SharedClock>();
  return {
    locks: scope.navigator?.locks ?? fallback,
    channel,
    lastRefresh: storedClock(storage, `${name}:last-refresh`),
    mintClock: (key) => {
      const clock = mintClocks.get(key) ?? storedClock(storage, `${name}:minted:${key}`);
      mintClocks.set(key, clock);
      return clock;
    },
  };
}

/** A lock manager made by `load` when its first lock is asked for. */
function onDemand(load: () => Promise<LockManagerLike>): LockManagerLike {
  let locks: Promise<LockManagerLike> | null = null;
  return { request: (name, callback) => (locks ??= load()).then((made) => made.request(name, callback)) };
}
