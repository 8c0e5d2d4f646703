// Session tokens for other services in the client (`getToken`): each audience's token kept in
// memory until shortly before it expires, and one request per audience at a time across the
// tabs of the origin. The tab that mints tells the others the token over the BroadcastChannel
// (same origin, memory only; with the session it speaks for, and a tab on another session by
// then takes none of it). Which tokens the tabs hold is known without their messages: each tab
// holding one holds a shared Web Lock named after it (its session and until when it is handed
// out, never the token), taken before the mint's lock is let go and let go with the token or the
// tab. A tab in turn that finds a token held that it lacks asks the other tabs for it and waits
// for it instead of minting another (the message may still be on its way on a busy machine, or
// the tab opened after the mint). Without Web Locks, the lock negotiated over the channel is
// let go by a message after the token's, so the next tab in line has it first; a tab opened
// later mints its own. Never written to storage, where a script could read it after the page is
// gone.

/** The most time before its expiry a kept token is renewed, in ms. */
export const RENEW_BEFORE = 30_000;

/** How long a tab waits for a token another tab holds, in ms (then it mints its own: the tab
 * that holds it may be gone, or its answer lost). */
const HANDOVER_WAIT = 3_000;

/** `POST /sessions/current/token`'s answer. */
export interface Minted {
  token: string;
  audience: string;
  expires_in: number;
}

/** What the tokens need of the other tabs (tabs.ts). */
export interface TokenTabs {
  exclusive<T>(purpose: string, run: () => Promise<T>): Promise<T>;
  shareToken(key: string, token: string, renewAt: number, session: string): void;
  wantToken(key: string): void;
  /** Holds the shared lock `purpose` until the function it resolves to is called (`null`:
   * no Web Locks). */
  hold(purpose: string): Promise<() => void> | null;
  /** What follows `prefix` in the purposes of the locks every tab holds now (`null`: no Web
   * Locks). */
  held(prefix: string): Promise<string[] | null>;
}

export interface ServiceTokens {
  /**
   * The kept token of `audience`, or a new one (one request per audience, across tabs);
   * `force`: a new one whatever is kept (the receiving service refused the kept one).
   */
  get(audience: string | undefined, force?: boolean): Promise<string>;
  /** A token another tab tells, of `session`; `renewAt` names it. */
  received(key: string, token: string, renewAt: number, session: string): void;
  /** Another tab asks for the token of `key`. */
  wanted(key: string): void;
  /** Drops every kept token (the session ended or changed). */
  forget(): void;
}

interface Kept {
  token: string;
  /** When it stops being handed out (ms since the epoch): the same in every tab. */
  renewAt: number;
}

/** The shared lock a tab holds while it holds a token of `key` for `session`, `renewAt` last. */
const heldName = (key: string, session: string, renewAt?: number) =>
  `token-held:${encodeURIComponent(key)}:${session}:${renewAt ?? ""}`;

/**
 * The tokens of one client: `mint` asks the API; `once` shares a request in flight per purpose
 * (the client's own); `session` is the id of the client's session now.
 */
export function serviceTokens(
  mint: (audience: string | undefined) => Promise<Minted>,
  tabs: TokenTabs | null,
  once: <T>(purpose: string, run: () => Promise<T>) => Promise<T>,
  session: () => string | null,
): ServiceTokens {
  // Per audience ("" for the server's default), of the session now (forget() empties it).
  const kept = new Map<string, Kept>();
  // What lets go of the shared lock naming the kept token, per audience.
  const holds = new Map<string, () => void>();
  const usable = (key: string): Kept | null => {
    const entry = kept.get(key);
    return entry !== undefined && Date.now() < entry.renewAt ? entry : null;
  };
  /** Keeps `entry`, of `of`, and names it in a shared lock (the older one's let go). */
  const keep = async (key: string, entry: Kept, of: string): Promise<void> => {
    kept.set(key, entry);
    holds.get(key)?.();
    holds.delete(key);
    const release = await tabs?.hold(heldName(key, of, entry.renewAt));
    if (release && kept.get(key) === entry) holds.set(key, release);
    else release?.();
  };
  /** Until when the tokens of `key` the tabs hold for `of` are handed out. */
  const heldUntil = async (key: string, of: string): Promise<number[]> => {
    const names = await tabs?.held(heldName(key, of));
    return (names ?? []).map(Number);
  };
  // Tabs waiting for another tab's token, per key: called with each one this tab takes.
  const arrivals = new Map<string, Set<(renewAt: number) => void>>();
  const arrival = (key: string, until: number): Promise<void> =>
    new Promise((resolve) => {
      const waiting = arrivals.get(key) ?? new Set<(renewAt: number) => void>();
      arrivals.set(key, waiting);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(taken);
        resolve();
      };
      const taken = (renewAt: number) => renewAt >= until && done();
      const timer = setTimeout(done, HANDOVER_WAIT);
      waiting.add(taken);
    });
  const inTurn = async (key: string, audience: string | undefined, refused: Kept | null): Promise<string> => {
    const of = session();
    const held = of === null ? [] : await heldUntil(key, of);
    const ready = () => {
      const entry = usable(key);
      return entry !== null && entry.renewAt !== refused?.renewAt ? entry.token : null;
    };
    // A tab holds a token this one lacks (not the refused one): ask for the newest.
    const newest = Math.max(0, ...held.filter((at) => at > Date.now() && at !== refused?.renewAt));
    if (tabs && ready() === null && newest > 0) {
      const handed = arrival(key, newest);
      tabs.wantToken(key);
      await handed;
    }
    const token = ready();
    if (token !== null) return token;
    const minted = await mint(audience);
    // The session changed while the mint was on its way: the caller asked before, the token
    // is its answer, but nobody keeps it.
    if (of === null || session() !== of) return minted.token;
    const life = Math.max(0, minted.expires_in) * 1000;
    const fresh = { token: minted.token, renewAt: Date.now() + life - Math.min(RENEW_BEFORE, life / 2) };
    // Named before the lock is let go: the next tab in turn sees it held.
    await keep(key, fresh, of);
    tabs?.shareToken(key, fresh.token, fresh.renewAt, of);
    return fresh.token;
  };
  return {
    get(audience, force = false) {
      const key = audience ?? "";
      const ready = usable(key);
      if (ready !== null && !force) return Promise.resolve(ready.token);
      // Forced: any token but the refused one will do (another tab's newer one too).
      const run = () => inTurn(key, audience, force ? ready : null);
      return once(`token:${key}`, () => (tabs ? tabs.exclusive(`token:${key}`, run) : run()));
    },
    received(key, token, renewAt, of) {
      if (of !== session() || (kept.get(key)?.renewAt ?? 0) >= renewAt) return;
      void keep(key, { token, renewAt }, of);
      for (const taken of [...(arrivals.get(key) ?? [])]) taken(renewAt);
    },
    wanted(key) {
      const held = usable(key);
      const of = session();
      if (held !== null && of !== null) tabs?.shareToken(key, held.token, held.renewAt, of);
    },
    forget() {
      for (const release of holds.values()) release();
      holds.clear();
      kept.clear();
    },
  };
}
