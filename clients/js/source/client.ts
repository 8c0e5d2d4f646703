// The session client: every call of the session API, one explicit state (`loading`,
// `signed-in`, `guest`, `signed-out`: the machine of states.ts, which only a 401 or a sign-out
// ends), and
// one request in flight per purpose (concurrent callers of `current()` or `refresh()` share it).
import { SessionApiError } from "./errors.js";
import { KeepAlive, pageEnvironment } from "./keepalive.js";
import type { KeepAliveEnvironment, KeepAliveOptions } from "./keepalive.js";
import { browserParts, Tabs } from "./tabs.js";
import type { Cause, TabParts } from "./tabs.js";
import { ApiCalls } from "./api-calls.js";
import { onDemand } from "./on-demand.js";
import { SessionStates, sessionOf } from "./states.js";
import type { Minted, ServiceTokens } from "./service-tokens.js";
import type {
  Device,
  SecurityEvent,
  SecurityHistoryPage,
  Session,
  SessionData,
  SessionState,
  SignOutReason,
  TokenStore,
} from "./types.js";
import { currentPath, errorOf } from "./wire.js";

export interface SessionClientOptions {
  /** The session API, e.g. `https://api.example.com`. */
  baseUrl: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Called on every state change (the same as `subscribe`). */
  onStateChange?: (state: SessionState) => void;
  /**
   * `cookie` (default, browsers: the `HttpOnly` cookie travels by itself) or `bearer`
   * (non-browser JavaScript: the token is kept in `tokenStore` and sent as `Authorization`).
   */
  mode?: "cookie" | "bearer";
  /** Where bearer mode keeps its token (default: in memory). */
  tokenStore?: TokenStore;
  /** How many times a 503 is retried, as its `Retry-After` says (default 2). */
  retries?: number;
  /** Waits `ms` between retries (default: `setTimeout`). */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Coordination with the other tabs of the origin (cookie mode): in a page, Web Locks,
   * `BroadcastChannel` and `localStorage` by default; `false` turns it off.
   */
  crossTab?: false | TabParts;
  /**
   * A refresh asked within this many ms after another tab's refresh takes that one's result
   * instead of rotating again (default 2000): tabs that ask "at the same instant" never quite
   * do, and a rotation seconds after another only adds a write.
   */
  coalesceRefreshes?: number;
  /**
   * Revalidates when the user comes back to the page and refreshes before the idle deadline
   * while the user is active (in a page by default); `false` turns it off.
   */
  keepAlive?: false | (KeepAliveOptions & { environment?: KeepAliveEnvironment });
  /**
   * `updateData` without a session starts a guest session (`POST /sessions/guest`) for the
   * data (default true): a visitor's cart needs no sign-in. Nothing is created before the
   * first write. `false`: `updateData` without a session rejects with `unauthenticated`.
   */
  guests?: boolean;
}

/** What a sign-in asks for besides the ticket. */
export interface SignInOptions {
  /** Stored with the session. */
  data?: SessionData;
  /** A lifetime profile of the server's `SESSION_PROFILES`; the server's default when left out. */
  profile?: string;
  /**
   * The ticket is an administrator's one-time impersonation ticket (support signing in as the
   * user): the session carries `actor`, has its own short lifetime (name no `profile`).
   */
  impersonation?: boolean;
  /**
   * When a guest session is carried over: whose top-level data keys win (`guest_wins`, the
   * default; `sign_in_wins`; or `discard` the guest's data). The guest session ends either way.
   */
  guestData?: "guest_wins" | "sign_in_wins" | "discard";
}

export interface UpdateDataOptions {
  /** The data version the patch is based on (default: the session's current one). */
  version?: number;
  /** On 412 (someone changed the data meanwhile), re-read and re-apply the patch (default false). */
  retryOnConflict?: boolean;
}

export interface SessionClient {
  /** The state now. */
  readonly state: SessionState;
  /** Calls `listener` on every state change; returns the function that stops it. */
  subscribe(listener: (state: SessionState) => void): () => void;
  /**
   * Signs in with a login ticket (or ID token); `data` is stored with the session, `profile`
   * names a lifetime profile of the server's `SESSION_PROFILES` (say `"remember"` for a
   * "remember me" box): unknown, it rejects with `unknown_profile`; not allowed to this user,
   * with `profile_not_allowed`. The ticket stays unused either way.
   */
  signIn(ticket: string, options?: SignInOptions): Promise<Session>;
  /**
   * The current session, or `null` when signed out. Answers from the state when signed in
   * unless `force`; concurrent callers share one request. With `maxAuthAge` (seconds) it
   * always asks, and rejects with `reauthentication_required` (the session stays signed in)
   * when the user's last authentication is older: call `reauthenticate` then.
   */
  current(options?: { force?: boolean; maxAuthAge?: number }): Promise<Session | null>;
  /**
   * Proves again who the user is with a fresh ID token of the same user, without a new
   * session: records the new proof and rotates the token. Rejects with `reauth_user_mismatch`
   * (403) for another user's token; the session stays either way.
   */
  reauthenticate(idToken: string): Promise<Session>;
  /** A new token and a fresh idle window; concurrent callers share one request. */
  refresh(): Promise<Session | null>;
  /** Ends the session on the server and here. */
  signOut(): Promise<void>;
  /** Ends every session of the user (with `keepCurrent`, every other one); how many ended. */
  signOutEverywhere(options?: { keepCurrent?: boolean }): Promise<number>;
  /** The user's signed-in devices (every page), the calling one first and marked `current`. */
  devices(): Promise<Device[]>;
  /** Ends one of the user's sessions; ending the calling one signs out here too. */
  revokeDevice(sessionId: string): Promise<void>;
  /**
   * One page of the user's security history ("recent security activity": sign-ins, rotations,
   * sign-outs, revocations, replays), newest first. Pass the page's `nextCursor` as `cursor`
   * for the next one; `limit` is 1 to 100 (50 unless given).
   */
  securityHistory(options?: { limit?: number; cursor?: string }): Promise<SecurityHistoryPage>;
  /**
   * A short-lived token (a JWT) for another service: `audience` is one of the server's
   * `SESSION_TOKEN_AUDIENCES` (the only one configured when left out; unknown, it rejects with
   * `unknown_audience`). Kept in memory until shortly before it expires, one request per
   * audience at a time across tabs. Send it to that service (`Authorization: Bearer`), which
   * checks it with `verifySessionToken`; never to the session API. A 401 signs out. `force`:
   * a new token, not the kept one (after that service refused it, e.g. once a key was withdrawn).
   */
  getToken(options?: { audience?: string; force?: boolean }): Promise<string>;
  /**
   * Applies a JSON merge patch to the session data, with `If-Match`. Without a session it
   * starts a guest session for it first (unless the client was created with `guests: false`).
   */
  updateData(patch: SessionData, options?: UpdateDataOptions): Promise<Session>;
  /**
   * `fetch` for the app's own API: credentials included. A 401 from the session API's origin
   * ends the signed-in state.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Stops listening to the other tabs. */
  close(): void;
}

/** Bearer mode's default store: the token lives as long as the client. */
export function memoryTokenStore(): TokenStore {
  let token: string | null = null;
  return {
    get: () => token,
    set: (next) => {
      token = next;
    },
  };
}

const MAX_CONFLICT_RETRIES = 5;

export function createSessionClient(options: SessionClientOptions): SessionClient {
  const mode = options.mode ?? "cookie";
  const tokenStore = options.tokenStore ?? memoryTokenStore();
  const api = new ApiCalls({
    baseUrl: options.baseUrl,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    mode,
    tokenStore,
    retries: options.retries ?? 2,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
  });
  const inFlight = new Map<string, Promise<unknown>>();
  // Tokens for other services: their code is loaded by the first `getToken` (most pages never
  // ask; a tab that has not asked holds no token to forget or hand over, and asks the other tabs
  // for theirs when it does), and the session they were minted from.
  let serviceTokens: ServiceTokens | null = null;
  let tokensOf: string | null = null;
  // The state, changed only by the events the methods below report (states.ts).
  const states = new SessionStates({
    tell: (next, cause) => tabs?.tell(next, cause),
    changed: (next) => {
      // A token speaks for one session: none outlives it here.
      const session = sessionOf(next)?.session_id ?? null;
      if (session !== tokensOf) serviceTokens?.forget();
      tokensOf = session;
      keepAlive?.onState(next);
      options.onStateChange?.(next);
    },
  });
  const coalesce = options.coalesceRefreshes ?? 2_000;
  const channelName = `session-client:${new URL(options.baseUrl).href}`;
  const parts = mode === "cookie" && options.crossTab !== false ? (options.crossTab ?? browserParts(channelName)) : null;
  const tabs = parts
    ? new Tabs(
        channelName,
        parts.locks,
        parts.channel,
        parts.lastRefresh,
        (remote) => states.dispatch({ type: "told", state: remote }),
        {
          received: (audience, token, renewAt, session) => serviceTokens?.received(audience, token, renewAt, session),
          wanted: (audience) => serviceTokens?.wanted(audience),
        },
      )
    : null;
  const tokensLoaded = onDemand(async (): Promise<ServiceTokens> => {
    const { serviceTokens: tokensOfClient } = await import("./service-tokens.js");
    serviceTokens = tokensOfClient(
      async (audience) => {
        const body = audience === undefined ? {} : { audience };
        const answer = await onSession(() => api.call<Minted>("POST", "/sessions/current/token", { body }));
        return answer.body;
      },
      tabs,
      (purpose, run) => once(purpose, run),
      () => tokensOf,
    );
    return serviceTokens;
  });
  const keepAliveOptions = options.keepAlive === false ? null : (options.keepAlive ?? {});
  const environment = keepAliveOptions ? (keepAliveOptions.environment ?? pageEnvironment()) : null;
  // Started once the client exists (below); every new state is told to it.
  let keepAlive: KeepAlive | null = null;

  /** One request per purpose: a caller arriving while one is in flight gets its answer. */
  const once = <T>(purpose: string, run: () => Promise<T>): Promise<T> => {
    const pending = inFlight.get(purpose);
    if (pending) return pending as Promise<T>;
    const started = run().finally(() => inFlight.delete(purpose));
    inFlight.set(purpose, started);
    return started;
  };

  const signedOut = async (reason: SignOutReason | null): Promise<void> => {
    if (mode === "bearer") await tokenStore.set(null);
    states.dispatch({ type: "ended", reason });
  };

  /** The session an answer carries: signed in with it, and bearer mode keeps a new token. */
  const signedIn = async (session: Session, cause: Cause = "change"): Promise<Session> => {
    if (mode === "bearer" && session.token !== undefined) await tokenStore.set(session.token);
    states.dispatch({ type: "session", session, cause });
    return session;
  };

  /** One refresh, in one tab at a time: a tab that waited while another refreshed takes the
   * result (reading it, which rotates nothing) instead of rotating the token again. */
  const refreshInTurn = async (asked: number): Promise<Session | null> => {
    try {
      if (await tabs?.refreshedSince(asked - coalesce)) {
        const answer = await api.call<Session>("GET", "/sessions/current");
        return await signedIn(answer.body);
      }
      const answer = await api.call<Session>("POST", "/sessions/current/refresh");
      await tabs?.refreshed(coalesce);
      return await signedIn(answer.body, "refresh");
    } catch (error) {
      if (error instanceof SessionApiError && error.isSignedOut) {
        await signedOut(error.code);
        return null;
      }
      throw error;
    }
  };

  /** Runs a call on the caller's session: a 401 signs out (with the server's reason). */
  const onSession = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof SessionApiError && error.isSignedOut) await signedOut(error.code);
      throw error;
    }
  };

  const apiOrigin = new URL(options.baseUrl).origin;
  const guests = options.guests !== false;

  /** A guest session for a visitor's first write: created with `patch` as its data when that
   * is plain data (no `null` to remove), else empty and patched after; the session presented
   * instead, when the server finds one usable (`created` false: apply the patch to it). */
  const startGuest = async (patch: SessionData): Promise<{ session: Session; created: boolean }> => {
    const withData = !hasNull(patch);
    const body: Record<string, unknown> = { token_in_body: mode === "bearer" };
    if (withData) body["data"] = patch;
    const answer = await api.call<Session>("POST", "/sessions/guest", { body });
    const session = await signedIn(answer.body);
    return { session, created: answer.status === 201 && withData };
  };

  const client: SessionClient = {
    get state() {
      return states.state;
    },

    subscribe(listener) {
      return states.subscribe(listener);
    },

    async signIn(ticket, signInOptions = {}) {
      const body: Record<string, unknown> = { token_in_body: mode === "bearer" };
      if (signInOptions.data !== undefined) body["data"] = signInOptions.data;
      if (signInOptions.profile !== undefined) body["profile"] = signInOptions.profile;
      if (signInOptions.guestData !== undefined) body["guest_data"] = signInOptions.guestData;
      // A guest's data comes along: the browser's cookie carries the guest session by itself;
      // a bearer client names its guest token.
      if (mode === "bearer" && states.state.status === "guest") {
        const guestToken = await tokenStore.get();
        if (guestToken !== null) body["guest_token"] = guestToken;
      }
      // In cookie mode the browser may still hold a session cookie: the ticket goes in the body,
      // since a cookie beside an Authorization header is refused as ambiguous. An impersonation
      // ticket always travels in the body: it is never an Authorization credential.
      const impersonation = signInOptions.impersonation === true;
      if (impersonation) body["impersonation_ticket"] = ticket;
      else if (mode === "cookie") body["id_token"] = ticket;
      const inHeader = mode === "bearer" && !impersonation;
      const answer = await api.call<Session>("POST", "/sessions", inHeader ? { body, bearer: ticket } : { body });
      return signedIn(answer.body);
    },

    current({ force = false, maxAuthAge }: { force?: boolean; maxAuthAge?: number } = {}) {
      const fresh = maxAuthAge !== undefined;
      const state = states.state;
      const held = sessionOf(state);
      if (!force && !fresh && held !== null) return Promise.resolve(held);
      const path = currentPath(maxAuthAge);
      return once(fresh ? `current:${path}` : "current", async () => {
        if (mode === "bearer" && (await tokenStore.get()) === null) {
          await signedOut(null);
          return null;
        }
        try {
          const answer = await api.call<Session>("GET", path);
          return await signedIn(answer.body);
        } catch (error) {
          if (error instanceof SessionApiError && error.isSignedOut) {
            await signedOut(error.code);
            return null;
          }
          throw error;
        }
      });
    },

    refresh() {
      return once("refresh", () => {
        const asked = Date.now();
        return tabs ? tabs.exclusive("refresh", () => refreshInTurn(asked)) : refreshInTurn(asked);
      });
    },

    async reauthenticate(idToken) {
      const answer = await onSession(() =>
        api.call<Session>("POST", "/sessions/current/reauth", { body: { id_token: idToken } }),
      );
      return signedIn(answer.body);
    },

    signOut() {
      return once("signOut", async () => {
        await api.call<null>("DELETE", "/sessions/current");
        await signedOut("signed_out");
      });
    },

    async signOutEverywhere({ keepCurrent = false } = {}) {
      const query = keepCurrent ? "?keep_current=true" : "";
      const answer = await onSession(() => api.call<{ revoked: number }>("DELETE", `/sessions${query}`));
      if (!keepCurrent) await signedOut("signed_out");
      return answer.body.revoked;
    },

    async devices() {
      // Every page: the calling device first, then the others most recently seen first.
      const devices: Device[] = [];
      let cursor: string | null = null;
      do {
        const path: string = cursor === null ? "/sessions?limit=100" : `/sessions?limit=100&cursor=${encodeURIComponent(cursor)}`;
        const answer = await onSession(() => api.call<{ sessions: Device[]; next_cursor: string | null }>("GET", path));
        devices.push(...answer.body.sessions);
        cursor = answer.body.next_cursor ?? null;
      } while (cursor !== null);
      return devices;
    },

    async securityHistory(options = {}) {
      const query = new URLSearchParams();
      if (options.limit !== undefined) query.set("limit", String(options.limit));
      if (options.cursor !== undefined) query.set("cursor", options.cursor);
      const path = `/sessions/current/events${query.size > 0 ? `?${query.toString()}` : ""}`;
      const answer = await onSession(() =>
        api.call<{ events: SecurityEvent[]; next_cursor: string | null }>("GET", path),
      );
      return { events: answer.body.events, nextCursor: answer.body.next_cursor ?? null };
    },

    async revokeDevice(sessionId) {
      const state = states.state;
      const own = state.status === "signed-in" && state.session.session_id === sessionId;
      await onSession(() => api.call<null>("DELETE", `/sessions/${encodeURIComponent(sessionId)}`));
      if (own) await signedOut("signed_out");
    },

    async getToken({ audience, force }: { audience?: string; force?: boolean } = {}) {
      return (await tokensLoaded()).get(audience, force);
    },

    async updateData(patch, { version, retryOnConflict = false } = {}) {
      const state = states.state;
      let base = version ?? sessionOf(state)?.version;
      for (let attempt = 0; ; attempt++) {
        if (base === undefined) base = (await client.current({ force: true }))?.version;
        if (base === undefined && guests) {
          // No session: the visitor's data starts a guest session (once, however many callers;
          // in one tab at a time, so a tab that waited finds the first one's cookie, and the
          // server answers with that session instead of starting another).
          const started = await once("guest", () =>
            tabs ? tabs.exclusive("guest", () => startGuest(patch)) : startGuest(patch),
          );
          if (started.created) return started.session;
          base = started.session.version;
        }
        const headers: Record<string, string> = base === undefined ? {} : { "If-Match": `"${base}"` };
        try {
          const answer = await onSession(() =>
            api.call<Session>("PATCH", "/sessions/current", { body: { data: patch }, headers }),
          );
          return await signedIn(answer.body);
        } catch (error) {
          const conflict = error instanceof SessionApiError && error.status === 412;
          if (!conflict || !retryOnConflict || attempt >= MAX_CONFLICT_RETRIES) throw error;
          // Someone changed the data: read it again and re-apply the patch on top.
          base = (await client.current({ force: true }))?.version;
        }
      }
    },

    async fetch(input, init) {
      const response = await api.options.fetch(input, await api.credentials(init));
      const url = new URL(input instanceof Request ? input.url : input.toString(), apiOrigin);
      if (response.status === 401 && url.origin === apiOrigin && sessionOf(states.state) !== null) {
        const { code } = errorOf(response.status, await response.clone().json().catch(() => null));
        await signedOut(code === "unknown_error" ? "unauthenticated" : (code as SignOutReason));
      }
      return response;
    },

    close() {
      tabs?.close();
      keepAlive?.stop();
    },
  };
  if (environment && keepAliveOptions) {
    keepAlive = new KeepAlive(
      environment,
      { revalidate: () => client.current({ force: true }), refresh: () => client.refresh() },
      keepAliveOptions,
    );
  }
  return client;
}

/** Whether a merge patch removes anything (a `null` at any depth). */
function hasNull(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== "object") return false;
  return Object.values(value as Record<string, unknown>).some(hasNull);
}
