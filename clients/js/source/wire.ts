// What the session API's answers say, read in one place for the browser client, its API calls
// and the server guards: the error object, `Retry-After`, and the freshness query.
import type { ErrorCode } from "./types.js";

/** The `{"error": {"code", "message", "resume"?}}` of an answer. */
export interface WireError {
  code: ErrorCode | "unknown_error";
  message: string;
  /** On a 503 of a sign-in: the key that finishes it. */
  resume: string | null;
}

/** The error an answer of `status` carries, whatever shape its body has. */
export function errorOf(status: number, body: unknown): WireError {
  const error = (body as { error?: { code?: unknown; message?: unknown; resume?: unknown } } | null)?.error;
  return {
    code: typeof error?.code === "string" ? (error.code as ErrorCode) : "unknown_error",
    message: typeof error?.message === "string" ? error.message : `HTTP ${status}`,
    resume: typeof error?.resume === "string" ? error.resume : null,
  };
}

/** `Retry-After` in whole seconds, or `null` when absent or not a number. */
export function retryAfterOf(headers: Headers): number | null {
  const seconds = Number.parseInt(headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(seconds) ? seconds : null;
}

/** The path of `GET /sessions/current`, with `?max_auth_age=` when a maximum age is asked. */
export function currentPath(maxAuthAge: number | undefined): string {
  return maxAuthAge === undefined
    ? "/sessions/current"
    : `/sessions/current?max_auth_age=${Math.max(0, Math.floor(maxAuthAge))}`;
}
