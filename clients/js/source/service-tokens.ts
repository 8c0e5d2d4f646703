// Session tokens for other services in the client (`getToken`): each audience's token kept in
// memory until shortly before it expires, and one request per audience at a time across the
// tabs of the origin. The tab that mints tells the others the token over the BroadcastChannel
// (same origin, memory only; with the session it speaks for, and a tab on another session by
// then takes none of it) and, before it lets go of the lock, records in a shared clock until
// when it is handed out (a time, never the token). A tab in turn that finds such a token it does
// not hold asks the other tabs for it and waits for it (its message may still be on its way on
// a busy machine, or the tab opened after the mint) instead of minting another. Never written
// to storage, where a script could read it after the page is gone.

/** The most time before its expiry a kept token is renewed, in ms. */
export const RENEW_BEFORE = 30_000;

/** How long a tab waits for a token another tab holds, in ms (then it mints its own: the tab
 * that minted may be gone). */
const HANDOVER_WAIT = 2_000;

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
  /** Until when the newest token of `key` a tab minted is handed out (0: none). */
  mintedUntil(key: string): number;
  /** Records a mint of `key` made in this tab; 0 clears the record. */
  minted(key: string, renewAt: number): void;
}

export interface ServiceTokens {
  /**
   * The kept token of `audience`, or a new one (one request per audience, across tabs);
   * `force`: a new one whatever is kept (the receiving service refused the kept one).
   */
  get(audience: string | undefined, force?: boolean): Promise<string>;
  /** A token another tab holds, of `session`; `renewAt` names it. */
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
  const usable = (key: string): Kept | null => {
    const entry = kept.get(key);
    return entry !== undefined && Date.now() < entry.renewAt ? entry : null;
  };
  // Tabs waiting for another tab's token, per key: called when one arrives.
  const arrivals = new Map<string, Set<() => void>>();
  const arrival = (key: string): Promise<void> =>
    new Promise((resolve) => {
      const waiting = arrivals.get(key) ?? new Set<() => void>();
      arrivals.set(key, waiting);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, HANDOVER_WAIT);
      waiting.add(done);
    });
  const inTurn = async (key: string, audience: string | undefined, refused: Kept | null): Promise<string> => {
    // A tab holds a newer token than this one has (not the refused one): ask for it.
    const shared = tabs?.mintedUntil(key) ?? 0;
    if (tabs && shared > Date.now() && shared !== refused?.renewAt && kept.get(key)?.renewAt !== shared) {
      const handed = arrival(key);
      tabs.wantToken(key);
      await handed;
    }
    const ready = usable(key);
    if (ready !== null && ready.renewAt !== refused?.renewAt) return ready.token;
    const of = session();
    const minted = await mint(audience);
    // The session changed while the mint was on its way: the caller asked before, the token
    // is its answer, but nobody keeps it.
    if (of === null || session() !== of) return minted.token;
    const life = Math.max(0, minted.expires_in) * 1000;
    const fresh = { token: minted.token, renewAt: Date.now() + life - Math.min(RENEW_BEFORE, life / 2) };
    kept.set(key, fresh);
    tabs?.minted(key, fresh.renewAt);
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
      if (of === session() && (kept.get(key)?.renewAt ?? 0) < renewAt) kept.set(key, { token, renewAt });
      for (const done of [...(arrivals.get(key) ?? [])]) done();
    },
    wanted(key) {
      const held = usable(key);
      const of = session();
      if (held !== null && of !== null) tabs?.shareToken(key, held.token, held.renewAt, of);
    },
    forget() {
      // The record of a token this tab holds goes with it (a newer session's is left alone).
      for (const [key, entry] of kept) if (tabs?.mintedUntil(key) === entry.renewAt) tabs.minted(key, 0);
      kept.clear();
    },
  };
}
