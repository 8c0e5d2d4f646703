// Guards for backends outside the API Gateway authorizer (`@session-service/client/server`):
// Express/Connect middleware and a wrapper for Web-standard `Request` handlers (Next.js route
// handlers and middleware, Hono, Remix loaders). Each forwards the caller's `Cookie` or
// `Authorization` to `GET /sessions/current`, hands the session to the app, and passes every
// `Set-Cookie` the session API returned (rotation, clearing) through to the caller.
import { type Exchanged, type MigrateOptions, migrator } from "./migrate.js";
import type { ErrorCode, Session } from "./types.js";
import { currentPath, errorOf, retryAfterOf } from "./wire.js";

export type { LegacySession, MigrateOptions } from "./migrate.js";
export { SessionTokenError, verifySessionToken } from "./verify.js";
export type { SessionTokenClaims, SessionTokenErrorCode, VerifyOptions } from "./verify.js";

export interface GuardOptions {
  /** The session API, e.g. `https://api.example.com`. */
  apiUrl: string;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Budget for the session API's answer, in ms (default 3000); past it the guard answers 503. */
  timeout?: number;
  /**
   * Keep a verdict this long, in ms, keyed by a hash of the credential (never the credential);
   * 0 (default) asks the session API on every request. This is also the bound on how long a
   * revoked session may still be let through.
   */
  maxStaleness?: number;
  /**
   * With `maxStaleness`: the most verdicts kept (default 10000); past it the oldest go first.
   * Expired verdicts are dropped as new ones come, so the cache never outgrows the callers
   * of the last `maxStaleness` ms, nor this bound.
   */
  maxCached?: number;
  /**
   * Seconds: a session whose user authenticated longer ago is refused with
   * `reauthentication_required` (a 401 that keeps the session and its cookie), for routes
   * that need a recent proof of identity.
   */
  maxAuthAge?: number;
  /**
   * Let guest sessions through (`session.guest` is `true`): a visitor's cart or form. Without
   * it a guest is refused with 403 `guest_forbidden`, like the authorizer outside
   * `SESSION_GUEST_ROUTES`.
   */
  allowGuests?: boolean;
}

/** What the session API said about a request's credential. */
export type Verdict =
  | { kind: "session"; session: Session; setCookies: string[] }
  | { kind: "unauthenticated"; code: ErrorCode | "unknown_error"; setCookies: string[] }
  /** The request itself is at fault (400 ambiguous credentials, 413, 431): passed on as it is. */
  | { kind: "rejected"; status: number; code: ErrorCode | "unknown_error"; message: string; setCookies: string[] }
  | { kind: "unavailable"; retryAfter: number };

const DEFAULT_TIMEOUT = 3_000;

/** A guard's check: who holds the credential of these headers; `cached`, verdicts kept now. */
export type Check = ((headers: Headers) => Promise<Verdict>) & { readonly cached: number };

const DEFAULT_MAX_CACHED = 10_000;

/** Asks the session API who holds the credential of these request headers. */
export function guard(options: GuardOptions): Check {
  const fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const url = options.apiUrl.replace(/\/+$/, "") + currentPath(options.maxAuthAge);
  const maxStaleness = options.maxStaleness ?? 0;
  const maxCached = Math.max(1, options.maxCached ?? DEFAULT_MAX_CACHED);
  // Insertion order is expiry order (one staleness for all): the oldest entries are first.
  const cache = new Map<string, { verdict: Verdict; until: number }>();
  const remember = (key: string, verdict: Verdict, now: number): void => {
    cache.delete(key);
    for (const [oldest, entry] of cache) {
      if (entry.until > now && cache.size < maxCached) break;
      cache.delete(oldest);
    }
    cache.set(key, { verdict, until: now + maxStaleness });
  };

  const ask = async (credentials: Headers): Promise<Verdict> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeout ?? DEFAULT_TIMEOUT);
    try {
      const response = await fetch(url, { headers: credentials, signal: controller.signal });
      const setCookies = response.headers.getSetCookie();
      const body: unknown = await response.json().catch(() => null);
      // Only a well-formed session lets a request through: a 200 with HTML, `{}` or anything
      // else is the session API (or something in front of it) misbehaving, never a yes.
      if (response.status === 200 && isSession(body)) return { kind: "session", session: body, setCookies };
      const { code, message } = errorOf(response.status, body);
      if (response.status === 401) return { kind: "unauthenticated", code, setCookies };
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        return { kind: "rejected", status: response.status, code, message, setCookies };
      }
      return { kind: "unavailable", retryAfter: retryAfterOf(response.headers) ?? 1 };
    } catch {
      return { kind: "unavailable", retryAfter: 1 }; // timeout or unreachable
    } finally {
      clearTimeout(timer);
    }
  };

  // A guest where guests are not let in: refused, its cookies (a rotation) passed on.
  const admitted = (verdict: Verdict): Verdict =>
    verdict.kind === "session" && verdict.session.guest && options.allowGuests !== true
      ? {
          kind: "rejected",
          status: 403,
          code: "guest_forbidden",
          message: "a guest session may not use this route: sign in first",
          setCookies: verdict.setCookies,
        }
      : verdict;

  const check = async (headers: Headers): Promise<Verdict> => admitted(await verdictFor(headers));

  const verdictFor = async (headers: Headers): Promise<Verdict> => {
    const credentials = new Headers();
    for (const name of ["cookie", "authorization", "user-agent"]) {
      const value = headers.get(name);
      if (value !== null) credentials.set(name, value);
    }
    if (!credentials.has("cookie") && !credentials.has("authorization")) {
      return { kind: "unauthenticated", code: "unauthenticated", setCookies: [] };
    }
    if (maxStaleness <= 0) return ask(credentials);
    const key = await hash(`${credentials.get("cookie") ?? ""}\n${credentials.get("authorization") ?? ""}`);
    const now = Date.now();
    const cached = cache.get(key);
    if (cached && cached.until > now) return cached.verdict;
    const verdict = await ask(credentials);
    // Only a plain yes is kept: rotations (a Set-Cookie to pass on) and refusals are not.
    if (verdict.kind === "session" && verdict.setCookies.length === 0) {
      remember(key, verdict, Date.now());
    } else {
      cache.delete(key);
    }
    return verdict;
  };
  return Object.defineProperty(check, "cached", { get: () => cache.size }) as Check;
}

/** A session as `GET /sessions/current` answers it: the fields an app relies on, typed. */
function isSession(body: unknown): body is Session {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const candidate = body as Record<string, unknown>;
  const data = candidate["data"];
  return (
    typeof candidate["session_id"] === "string" &&
    typeof candidate["user_id"] === "string" &&
    candidate["user_id"] !== "" &&
    typeof candidate["version"] === "number" &&
    typeof data === "object" &&
    data !== null &&
    !Array.isArray(data)
  );
}

async function hash(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The guard's own answers, as Web `Response`s. */
function refusal(verdict: Exclude<Verdict, { kind: "session" }>): Response {
  const headers = new Headers({ "Content-Type": "application/json" });
  if (verdict.kind === "unavailable") {
    headers.set("Retry-After", String(verdict.retryAfter));
    const body = { error: { code: "service_unavailable", message: "the session service is unavailable: retry shortly" } };
    return new Response(JSON.stringify(body), { status: 503, headers });
  }
  for (const cookie of verdict.setCookies) headers.append("Set-Cookie", cookie);
  if (verdict.kind === "rejected") {
    const body = { error: { code: verdict.code, message: verdict.message } };
    return new Response(JSON.stringify(body), { status: verdict.status, headers });
  }
  const body = { error: { code: verdict.code, message: "sign in first" } };
  return new Response(JSON.stringify(body), { status: 401, headers });
}

export interface WithSessionOptions extends GuardOptions {
  /** The answer to a request without a usable session (default: JSON 401). */
  onUnauthenticated?: (request: Request, code: ErrorCode | "unknown_error") => Response | Promise<Response>;
  /** Sign in, on this very request, a user who carries a session of the app's former session system (README: Migrating). */
  migrate?: MigrateOptions<Request>;
}

/**
 * A guard's check, and with `migrate`, the exchange of a legacy session when the credential
 * is not a session of the service: the verdict the request is answered by.
 */
function checker<Req>(options: GuardOptions & { migrate?: MigrateOptions<Req> }) {
  const check = guard(options);
  const exchange = options.migrate
    ? migrator(options.migrate, options.apiUrl, options.fetch ?? globalThis.fetch.bind(globalThis), options.timeout ?? DEFAULT_TIMEOUT)
    : null;
  return async (request: Req, headers: Headers): Promise<Verdict> => {
    const verdict = await check(headers);
    if (verdict.kind !== "unauthenticated" || exchange === null) return verdict;
    return afterExchange(verdict, await exchange(request, headers));
  };
}

/** The verdict once a legacy session was (or was not) exchanged; the refusal's cookies first. */
function afterExchange(verdict: Extract<Verdict, { kind: "unauthenticated" }>, exchanged: Exchanged): Verdict {
  switch (exchanged.kind) {
    case "none":
      return verdict;
    case "session":
      return { kind: "session", session: exchanged.session, setCookies: [...verdict.setCookies, ...exchanged.setCookies] };
    case "rejected":
      return { ...exchanged, setCookies: verdict.setCookies };
    case "unavailable":
      return exchanged;
  }
}

/**
 * Wraps a Web-standard handler: it runs with the caller's session as its second argument;
 * the session API's `Set-Cookie` headers are added to its response.
 */
export function withSession(
  handler: (request: Request, session: Session) => Response | Promise<Response>,
  options: WithSessionOptions,
): (request: Request) => Promise<Response> {
  const check = checker(options);
  return async (request) => {
    const verdict = await check(request, request.headers);
    if (verdict.kind !== "session") {
      if (verdict.kind === "unauthenticated" && options.onUnauthenticated) {
        const response = await options.onUnauthenticated(request, verdict.code);
        return withCookies(response, verdict.setCookies);
      }
      return refusal(verdict);
    }
    return withCookies(await handler(request, verdict.session), verdict.setCookies);
  };
}

function withCookies(response: Response, cookies: string[]): Response {
  if (cookies.length === 0) return response;
  const headers = new Headers(response.headers);
  for (const cookie of cookies) headers.append("Set-Cookie", cookie);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** The parts of Node's `IncomingMessage` / `ServerResponse` (and Express's) the middleware uses. */
export interface NodeRequest {
  headers: Record<string, string | string[] | undefined>;
  session?: Session;
}
interface NodeResponse {
  statusCode: number;
  setHeader(name: string, value: string | string[]): unknown;
  getHeader(name: string): unknown;
  end(body?: string): unknown;
}

export interface MiddlewareOptions extends GuardOptions {
  /** The answer to a request without a usable session (default: JSON 401). */
  onUnauthenticated?: (req: NodeRequest, res: NodeResponse, code: ErrorCode | "unknown_error") => void;
  /** Sign in, on this very request, a user who carries a session of the app's former session system (README: Migrating). */
  migrate?: MigrateOptions<NodeRequest>;
}

/** Express/Connect middleware: `req.session` is the caller's session, or the guard answers. */
export function sessionMiddleware(options: MiddlewareOptions) {
  const check = checker(options);
  return (req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void): void => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    check(req, headers)
      .then(async (verdict) => {
        if (verdict.kind !== "unavailable" && verdict.setCookies.length > 0) {
          const existing = res.getHeader("Set-Cookie");
          const before = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
          res.setHeader("Set-Cookie", [...before, ...verdict.setCookies]);
        }
        if (verdict.kind === "session") {
          req.session = verdict.session;
          return next();
        }
        if (verdict.kind === "unauthenticated" && options.onUnauthenticated) {
          return options.onUnauthenticated(req, res, verdict.code);
        }
        const answer = refusal(verdict);
        res.statusCode = answer.status;
        answer.headers.forEach((value, name) => {
          if (name !== "set-cookie") res.setHeader(name, value);
        });
        res.end(await answer.text());
      })
      .catch(next);
  };
}
