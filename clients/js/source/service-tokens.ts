// Session tokens for other services in the client (`getToken`): each audience's token kept in
// memory until shortly before it expires, and one request per audience at a time across the
// tabs of the origin. The tab that mints tells the others the token over the BroadcastChannel
// (same origin, memory only) before it lets go of the lock; a tab that waited for the lock takes
// that token instead of minting another. Never written to storage, where a script could read it
// after the page is gone.

/** The most time before its expiry a kept token is renewed, in ms. */
export const RENEW_BEFORE = 30_000;

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
  const inTurn = async (key: string, audience: string | undefined, stale: string | null): Promise<string> => {
    // Another tab may have minted while this one waited: its message is in flight behind the
    // lock's release; let it land first.
    if (tabs) await new Promise((resolve) => setTimeout(resolve, 0));
    const ready = usable(key);
    if (ready !== null && ready !== stale) return ready;
    const minted = await mint(audience);
    keep(key, minted.token, minted.expires_in);
    tabs?.shareToken(key, minted.token, minted.expires_in);
    return minted.token;
  };
  return {
    get(audience, force = false) {
      const key = audience ?? "";
      const ready = usable(key);
      if (ready !== null && !force) return Promise.resolve(ready);
      // Forced: any token but the refused one will do (another tab's newer one too).
      const run = () => inTurn(key, audience, force ? ready : null);
      return once(`token:${key}`, () => (tabs ? tabs.exclusive(`token:${key}`, run) : run()));
    },
    received: keep,
    forget: () => kept.clear(),
  };
}
