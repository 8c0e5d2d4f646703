// Session tokens for other services in the client (`getToken`): each audience's token kept in
// memory until shortly before it expires, and one request per audience at a time across the
// tabs of the origin. The tab that mints tells the others the token over the BroadcastChannel
// (same origin, memory only) before it lets go of the lock, and marks when it minted in a
// shared clock (a time, never the token); a tab that waited for the lock and finds a mint made
// since it asked waits for that token's message (which may still be on its way on a busy
// machine) instead of minting another. Never written to storage, where a script could read it
// after the page is gone.

/** The most time before its expiry a kept token is renewed, in ms. */
export const RENEW_BEFORE = 30_000;

/** How long a tab waits for a token another tab minted while it waited, in ms. */
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
  shareToken(audience: string, token: string, expiresIn: number): void;
  /** Whether some tab minted a token of `key` at or after `at`. */
  mintedSince(key: string, at: number): boolean;
  /** Records a mint of `key` made in this tab now. */
  minted(key: string): void;
}

export interface ServiceTokens {
  /**
   * The kept token of `audience`, or a new one (one request per audience, across tabs);
   * `force`: a new one whatever is kept (the receiving service refused the kept one).
   */
  get(audience: string | undefined, force?: boolean): Promise<string>;
  /** A token another tab minted. */
  received(key: string, token: string, expiresIn: number): void;
  /** Drops every kept token (the session ended or changed). */
  forget(): void;
}

/**
 * The tokens of one client: `mint` asks the API; `once` shares a request in flight per purpose
 * (the client's own).
 */
export function serviceTokens(
  mint: (audience: string | undefined) => Promise<Minted>,
  tabs: TokenTabs | null,
  once: <T>(purpose: string, run: () => Promise<T>) => Promise<T>,
): ServiceTokens {
  // Per audience ("" for the server's default): the token and when it stops being handed out.
  const kept = new Map<string, { token: string; renewAt: number }>();
  const keep = (key: string, token: string, expiresIn: number): void => {
    const life = Math.max(0, expiresIn) * 1000;
    kept.set(key, { token, renewAt: Date.now() + life - Math.min(RENEW_BEFORE, life / 2) });
  };
  const usable = (key: string): string | null => {
    const entry = kept.get(key);
    return entry !== undefined && Date.now() < entry.renewAt ? entry.token : null;
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
  const inTurn = async (key: string, audience: string | undefined, stale: string | null, asked: number): Promise<string> => {
    // Another tab minted while this one waited: its message may still be on its way.
    if (tabs?.mintedSince(key, asked)) {
      const handed = usable(key);
      if (handed === null || handed === stale) await arrival(key);
    }
    const ready = usable(key);
    if (ready !== null && ready !== stale) return ready;
    const minted = await mint(audience);
    keep(key, minted.token, minted.expires_in);
    tabs?.minted(key);
    tabs?.shareToken(key, minted.token, minted.expires_in);
    return minted.token;
  };
  return {
    get(audience, force = false) {
      const key = audience ?? "";
      const ready = usable(key);
      if (ready !== null && !force) return Promise.resolve(ready);
      // Forced: any token but the refused one will do (another tab's newer one too).
      const asked = Date.now();
      const run = () => inTurn(key, audience, force ? ready : null, asked);
      return once(`token:${key}`, () => (tabs ? tabs.exclusive(`token:${key}`, run) : run()));
    },
    received(key, token, expiresIn) {
      keep(key, token, expiresIn);
      for (const done of [...(arrivals.get(key) ?? [])]) done();
    },
    forget: () => kept.clear(),
  };
}
