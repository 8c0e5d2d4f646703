// Bringing an app's signed-in users over from its former session system without signing anyone
// out: the guards' `migrate` option. A request that carries no session of the service but one of
// the legacy cookies is resolved by the app (`resolve`: who is this, in the old store?), then
// exchanged for a session of the service through its public sign-in route with a login ticket
// the guard mints (HS256, the app's ticket secret), and let through as signed in.
//
// Parallel requests with one legacy cookie (a user's tabs reloading together) end in one
// session: each ticket's `jti` is a hash of the legacy cookie (never the cookie itself) and its
// resume key is derived from the cookie with the ticket secret, so the service's single-use
// ticket machinery gives them all the session the first one made, within its rotation grace;
// after that, the cookie is not exchanged again.
import type { ErrorCode, Session } from "./types.js";
import { errorOf, retryAfterOf } from "./wire.js";

/** Who a legacy session belongs to, as the app's old store says. */
export interface LegacySession {
  user_id: string;
  tenant_id?: string;
  /** Carried into the new session's data. */
  data?: Record<string, unknown>;
  /** The lifetime profile to sign in under (`SESSION_PROFILES`). */
  profile?: string;
  /** When the user signed in to the old system (ISO 8601, a `Date`, or epoch seconds); default: now. */
  authenticated_at?: string | number | Date;
  /** How they signed in; `legacy` is appended. */
  amr?: string[];
}

export interface MigrateOptions<Req> {
  /** The legacy cookies' names, e.g. `["connect.sid"]`. */
  cookies: string[];
  /** The legacy session of a request: `null` when it is unknown, forged or expired. Throwing answers 503. */
  resolve: (request: Req) => Promise<LegacySession | null>;
  /**
   * Called once the request is signed in: end the old session here, after the exchange window
   * (shorten its life to the service's SESSION_ROTATION_GRACE rather than destroy it at once:
   * the user's other tabs, reloading at the same moment, still resolve it and get the same
   * session). May run more than once for one legacy session: make it idempotent.
   */
  onMigrated?: (request: Req, session: Session) => void | Promise<void>;
  /** The login-ticket secret the service verifies (`AUTH_JWT_HS256_SECRET`). */
  ticketSecret: string;
  /** `AUTH_JWT_ISSUER` and `AUTH_JWT_AUDIENCE` of the service. */
  issuer: string;
  audience: string;
  /** The service's `AUTH_JWT_TENANT_CLAIM` (default `tenant_id`). */
  tenantClaim?: string;
  /** The attributes the legacy cookies were set with, to clear them (default: `Path=/`, no `Domain`). */
  cookiePath?: string;
  cookieDomain?: string;
}

/** What an exchange came to. */
export type Exchanged =
  | { kind: "session"; session: Session; setCookies: string[] }
  /** No legacy cookie, or the app does not know it, or the service will not exchange it again: signed out as usual. */
  | { kind: "none" }
  | { kind: "rejected"; status: number; code: ErrorCode | "unknown_error"; message: string }
  | { kind: "unavailable"; retryAfter: number };

/** How long a minted ticket verifies, in seconds. */
const TICKET_LIFETIME = 60;

/** The exchange of `options`, against the session API at `apiUrl`. */
export function migrator<Req>(
  options: MigrateOptions<Req>,
  apiUrl: string,
  fetch: typeof globalThis.fetch,
  timeout: number,
): (request: Req, headers: Headers) => Promise<Exchanged> {
  const url = apiUrl.replace(/\/+$/, "") + "/sessions";
  return async (request, headers) => {
    const legacy = legacyCookie(headers.get("cookie"), options.cookies);
    if (legacy === null) return { kind: "none" };
    let resolved: LegacySession | null;
    try {
      resolved = await options.resolve(request);
    } catch {
      return { kind: "unavailable", retryAfter: 1 }; // the old store is down: never a sign-out
    }
    if (resolved === null) return { kind: "none" };
    const key = await hmacKey(options.ticketSecret);
    const ticket = await mint(key, ticketClaims(options, resolved, `legacy:${await sha256(legacy)}`));
    const resume = await sign(key, `session-service/legacy-resume\0${legacy}`);
    const body: Record<string, unknown> = { id_token: ticket, resume };
    if (resolved.data !== undefined) body["data"] = resolved.data;
    if (resolved.profile !== undefined) body["profile"] = resolved.profile;
    const forwarded = new Headers({ "Content-Type": "application/json" });
    const agent = headers.get("user-agent");
    if (agent !== null) forwarded.set("User-Agent", agent);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let response: Response;
    let answer: unknown;
    try {
      response = await fetch(url, { method: "POST", headers: forwarded, body: JSON.stringify(body), signal: controller.signal });
      answer = await response.json().catch(() => null);
    } catch {
      return { kind: "unavailable", retryAfter: 1 };
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 201 && isSessionLike(answer)) {
      const session = answer;
      const setCookies = [...response.headers.getSetCookie(), ...options.cookies.map((name) => clearing(name, options))];
      if (options.onMigrated) await options.onMigrated(request, session);
      return { kind: "session", session, setCookies };
    }
    const { code, message } = errorOf(response.status, answer);
    // Exchanged before, past its window: the ordinary signed-out answer, the legacy cookie kept.
    if (response.status === 401) return { kind: "none" };
    if (response.status >= 400 && response.status < 500 && response.status !== 429) {
      return { kind: "rejected", status: response.status, code, message };
    }
    return { kind: "unavailable", retryAfter: retryAfterOf(response.headers) ?? 1 };
  };
}

/** The `name=value` of the first legacy cookie the `Cookie` header carries, or `null`. */
function legacyCookie(header: string | null, names: string[]): string | null {
  if (header === null) return null;
  for (const pair of header.split(";")) {
    const at = pair.indexOf("=");
    if (at < 0) continue;
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (value !== "" && names.includes(name)) return `${name}=${value}`;
  }
  return null;
}

/** A `Set-Cookie` that removes the legacy cookie `name` where it was set. */
function clearing<Req>(name: string, options: MigrateOptions<Req>): string {
  const domain = options.cookieDomain === undefined ? "" : `; Domain=${options.cookieDomain}`;
  return `${name}=; Path=${options.cookiePath ?? "/"}${domain}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0`;
}

function ticketClaims<Req>(options: MigrateOptions<Req>, legacy: LegacySession, jti: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    sub: legacy.user_id,
    iss: options.issuer,
    aud: options.audience,
    iat: now,
    nbf: now,
    exp: now + TICKET_LIFETIME,
    jti,
    auth_time: Math.min(now, epochSeconds(legacy.authenticated_at) ?? now),
    amr: [...(legacy.amr ?? []).filter((method) => method !== "legacy"), "legacy"],
  };
  if (legacy.tenant_id !== undefined) claims[options.tenantClaim ?? "tenant_id"] = legacy.tenant_id;
  return claims;
}

function epochSeconds(at: LegacySession["authenticated_at"]): number | null {
  if (at === undefined) return null;
  const ms = typeof at === "number" ? at * 1000 : new Date(at).getTime();
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

/** A session as the sign-in route answers it. */
function isSessionLike(body: unknown): body is Session {
  return typeof body === "object" && body !== null && typeof (body as { session_id?: unknown }).session_id === "string";
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

async function sign(key: CryptoKey, message: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message))));
}

async function sha256(text: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

/** An HS256 JWT of `claims`. */
async function mint(key: CryptoKey, claims: Record<string, unknown>): Promise<string> {
  const part = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)));
  const message = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${message}.${await sign(key, message)}`;
}
