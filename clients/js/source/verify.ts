// The receiving side of session tokens for other services (`verifySessionToken`, exported by
// `@session-service/client/server`): a service checks a token offline, ES256 by a key of the
// session service's published key set, for its own audience and the API's issuer, with a bounded
// clock skew. The key set is cached as its `Cache-Control` says and fetched again, at most once
// per REFETCH_INTERVAL, when a token names a `kid` it does not hold (a key rotation publishes the
// new key before it signs). WebCrypto only: no runtime dependency.

/** Clock skew allowed on `exp`, `nbf` and `iat` unless told otherwise, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE = 30;
/** The most clock skew a verifier allows, in seconds. */
export const MAX_CLOCK_TOLERANCE = 300;
/** Least time between two fetches of a key set caused by unknown `kid`s, in ms. */
export const REFETCH_INTERVAL = 30_000;
/** How long a key set is kept when its answer says nothing (`Cache-Control: max-age`), in ms. */
const DEFAULT_KEY_SET_AGE = 300_000;
/** Largest key set accepted. */
const MAX_KEY_SET_BYTES = 256 * 1024;

export interface VerifyOptions {
  /** The session API's key set: `https://api.example.com/.well-known/jwks.json`. */
  jwksUrl: string;
  /** This service's audience: one of the API's `SESSION_TOKEN_AUDIENCES`. */
  audience: string;
  /** The expected `iss` (default: the origin of `jwksUrl`, the API's public origin). */
  issuer?: string;
  /** Seconds of clock skew allowed (default 30, at most 300). */
  clockTolerance?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** What a verified token says (the claims the session service signs). */
export interface SessionTokenClaims {
  iss: string;
  /** The user. */
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  /** The session it was minted from: what `session.revoked` events name. */
  sid: string;
  tenant_id?: string;
  auth_time: number;
  amr?: string[];
  acr?: string;
  profile: string;
  /** Present when support acts for the user (an impersonation session). */
  act?: { sub: string; reason?: string };
  /** The session data keys this audience is given. */
  data?: Record<string, unknown>;
}

export type SessionTokenErrorCode =
  | "malformed"
  | "unsupported_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_audience"
  | "wrong_issuer"
  | "invalid_claim"
  | "keys_unavailable";

/** Why a token was refused (`keys_unavailable`: the key set could not be fetched, not the token's fault). */
export class SessionTokenError extends Error {
  override readonly name = "SessionTokenError";
  constructor(
    readonly code: SessionTokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface KeySet {
  keys: Map<string, CryptoKey>;
  /** When it may no longer be used without fetching again (ms). */
  freshUntil: number;
  /** When it was last fetched, or a fetch was last tried (ms). */
  fetchedAt: number;
}

/** The key sets of every URL this process verifies against, and the fetches in flight. */
const keySets = new Map<string, KeySet>();
const fetching = new Map<string, Promise<KeySet | null>>();

/** Verifies `jwt` for `options.audience`; rejects with a `SessionTokenError` saying why. */
export async function verifySessionToken(jwt: string, options: VerifyOptions): Promise<SessionTokenClaims> {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new SessionTokenError("malformed", "not a compact JWS");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = json(headerPart) as { alg?: unknown; kid?: unknown; crit?: unknown } | null;
  if (header === null || typeof header !== "object") throw new SessionTokenError("malformed", "unreadable header");
  // Only ES256: an HS256 token "signed" with the public key, or `none`, is refused here.
  if (header.alg !== "ES256") throw new SessionTokenError("unsupported_algorithm", "only ES256 is accepted");
  if (header.crit !== undefined) throw new SessionTokenError("unsupported_algorithm", "critical header extensions are not supported");
  if (typeof header.kid !== "string") throw new SessionTokenError("unknown_key", "the token names no key");
  const signature = base64url(signaturePart);
  if (signature === null || signature.length !== 64) throw new SessionTokenError("malformed", "not an ES256 signature");

  const key = await keyFor(header.kid, options);
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  const valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, signed);
  if (!valid) throw new SessionTokenError("bad_signature", "the signature does not verify");

  const claims = json(payloadPart) as Partial<SessionTokenClaims> & { nbf?: unknown } | null;
  if (claims === null || typeof claims !== "object") throw new SessionTokenError("malformed", "unreadable claims");
  const tolerance = Math.min(Math.max(options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE, 0), MAX_CLOCK_TOLERANCE);
  const now = Date.now() / 1000;
  const issuer = options.issuer ?? new URL(options.jwksUrl).origin;
  if (claims.iss !== issuer) throw new SessionTokenError("wrong_issuer", "issued by another issuer");
  const audiences: unknown[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(options.audience)) throw new SessionTokenError("wrong_audience", "meant for another audience");
  if (typeof claims.exp !== "number" || typeof claims.iat !== "number") {
    throw new SessionTokenError("invalid_claim", "exp and iat are required numbers");
  }
  if (now > claims.exp + tolerance) throw new SessionTokenError("expired", "the token has expired");
  if (claims.iat > now + tolerance || (typeof claims.nbf === "number" && claims.nbf > now + tolerance)) {
    throw new SessionTokenError("not_yet_valid", "the token is not valid yet");
  }
  if (typeof claims.sub !== "string" || claims.sub === "" || typeof claims.sid !== "string") {
    throw new SessionTokenError("invalid_claim", "sub and sid are required strings");
  }
  return claims as SessionTokenClaims;
}

/** The key named `kid`: from the cached set, or the set fetched again (rate-limited). */
async function keyFor(kid: string, options: VerifyOptions): Promise<CryptoKey> {
  const url = options.jwksUrl;
  let set = keySets.get(url);
  const now = Date.now();
  const stale = set === undefined || now >= set.freshUntil;
  const missing = !set?.keys.has(kid);
  if (stale || (missing && now - (set?.fetchedAt ?? 0) >= REFETCH_INTERVAL)) {
    set = (await refetch(url, options.fetch ?? globalThis.fetch.bind(globalThis))) ?? set;
  }
  if (set === undefined) throw new SessionTokenError("keys_unavailable", "the key set could not be fetched");
  const key = set.keys.get(kid);
  if (key === undefined) throw new SessionTokenError("unknown_key", "the token names a key that is not published");
  return key;
}

/** Fetches `url`'s key set (one fetch at a time per URL); `null` when it fails. */
function refetch(url: string, fetch: typeof globalThis.fetch): Promise<KeySet | null> {
  const pending = fetching.get(url);
  if (pending) return pending;
  const started = (async (): Promise<KeySet | null> => {
    const attempted = Date.now();
    try {
      const response = await fetch(url, { headers: { accept: "application/json" } });
      const text = response.ok ? await response.text() : "";
      if (!response.ok || text.length > MAX_KEY_SET_BYTES) throw new Error(`HTTP ${response.status}`);
      const body = JSON.parse(text) as { keys?: unknown };
      const keys = new Map<string, CryptoKey>();
      for (const jwk of Array.isArray(body.keys) ? body.keys : []) {
        const k = jwk as { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown; kid?: unknown; alg?: unknown; use?: unknown };
        if (k.kty !== "EC" || k.crv !== "P-256" || typeof k.kid !== "string") continue;
        if ((k.alg !== undefined && k.alg !== "ES256") || (k.use !== undefined && k.use !== "sig")) continue;
        if (typeof k.x !== "string" || typeof k.y !== "string") continue;
        const key = await crypto.subtle
          .importKey("jwk", { kty: "EC", crv: "P-256", x: k.x, y: k.y, ext: true }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
          .catch(() => null);
        if (key) keys.set(k.kid, key);
      }
      const set: KeySet = { keys, freshUntil: attempted + maxAgeOf(response.headers), fetchedAt: attempted };
      keySets.set(url, set);
      return set;
    } catch {
      // Keep what was cached (stale keys beat none while the API is unreachable); remember the
      // attempt, so neither unknown `kid`s nor the stale set make every token fetch again.
      const cached = keySets.get(url);
      if (cached) {
        cached.fetchedAt = attempted;
        cached.freshUntil = Math.max(cached.freshUntil, attempted + REFETCH_INTERVAL);
      }
      return null;
    }
  })().finally(() => fetching.delete(url));
  fetching.set(url, started);
  return started;
}

/** `Cache-Control: max-age` in ms (the default when absent). */
function maxAgeOf(headers: Headers): number {
  const match = /(?:^|,)\s*max-age=(\d+)/i.exec(headers.get("cache-control") ?? "");
  return match ? Number(match[1]) * 1000 : DEFAULT_KEY_SET_AGE;
}

function base64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function json(part: string): unknown {
  const bytes = base64url(part);
  if (bytes === null) return null;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return null;
  }
}

/** Forgets every cached key set (tests). */
export function forgetKeySets(): void {
  keySets.clear();
}
