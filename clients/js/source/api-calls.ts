// One HTTP call to the session API: credentials attached (the cookie, or the bearer token),
// JSON in and out, errors parsed into `SessionApiError`, and a 503 retried as its
// `Retry-After` says, a bounded number of times, with jitter. A 503 that says how to resume
// the call (a sign-in interrupted after its ticket may have been used) is retried with it.
import { SessionApiError, SessionNetworkError } from "./errors.js";
import type { TokenStore } from "./types.js";
import { errorOf, retryAfterOf } from "./wire.js";

export interface ApiCallsOptions {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  /** `cookie` (browsers: `credentials: "include"`) or `bearer` (the token from `tokenStore`). */
  mode: "cookie" | "bearer";
  tokenStore: TokenStore;
  /** How many times a 503 is retried before the call fails (default 2). */
  retries: number;
  /** Waits `ms` (tests pass their own clock). */
  sleep: (ms: number) => Promise<void>;
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send this bearer credential instead of the session's (sign-in sends the login ticket). */
  bearer?: string;
}

const MAX_RETRY_AFTER_SECONDS = 30;

export class ApiCalls {
  constructor(readonly options: ApiCallsOptions) {}

  /** The request init every call to the session API (and `client.fetch`) carries. */
  async credentials(init: RequestInit = {}, bearer?: string): Promise<RequestInit> {
    const headers = new Headers(init.headers);
    const token = bearer ?? (this.options.mode === "bearer" ? await this.options.tokenStore.get() : null);
    if (token !== null && token !== undefined) headers.set("Authorization", `Bearer ${token}`);
    return this.options.mode === "cookie"
      ? { ...init, headers, credentials: "include" }
      : { ...init, headers };
  }

  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const { retries, sleep } = this.options;
    for (let attempt = 0; ; attempt++) {
      const answer = await this.once<T>(method, path, options);
      if (answer instanceof SessionApiError) {
        if (answer.status === 503 && attempt < retries) {
          await sleep(retryDelay(answer.retryAfter, attempt));
          options = resumed(options, answer.resume);
          continue;
        }
        throw answer;
      }
      return answer;
    }
  }

  private async once<T>(method: string, path: string, options: CallOptions): Promise<Answer<T> | SessionApiError> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const init = await this.credentials({ method, headers, ...(body === undefined ? {} : { body }) }, options.bearer);
    let response: Response;
    try {
      response = await this.options.fetch(this.options.baseUrl.replace(/\/+$/, "") + path, init);
    } catch (cause) {
      throw new SessionNetworkError(cause);
    }
    const text = await response.text();
    const parsed: unknown = text === "" ? null : safeJson(text);
    if (response.ok) return { status: response.status, body: parsed as T, headers: response.headers };
    return apiError(response, parsed);
  }
}

/** The call again, carrying the `resume` key a 503 gave (in its JSON body), if any. */
function resumed(options: CallOptions, resume: string | null): CallOptions {
  const body = options.body;
  if (resume === null || typeof body !== "object" || body === null || Array.isArray(body)) return options;
  return { ...options, body: { ...body, resume } };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The error an answer carries, whatever shape its body has. */
export function apiError(response: Response, body: unknown): SessionApiError {
  const { code, message, resume } = errorOf(response.status, body);
  return new SessionApiError(response.status, code, message, retryAfterOf(response.headers), resume);
}

/** `Retry-After` seconds (capped; 1 when absent), growing per attempt, plus up to 25% jitter. */
export function retryDelay(retryAfter: number | null, attempt: number): number {
  const base = Math.min(retryAfter ?? 1, MAX_RETRY_AFTER_SECONDS) * 1000 * (attempt + 1);
  return base + Math.random() * base * 0.25;
}
