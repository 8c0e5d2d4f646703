// The failures a call can end in. Only a 401 from the session API means "signed out"; a 503 or a
// network failure never does.
import type { ErrorCode } from "./types.js";

/** The API answered with an error (`{"error": {"code", "message"}}`). */
export class SessionApiError extends Error {
  override readonly name = "SessionApiError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "unknown_error",
    message: string,
    /** Seconds the server asked to wait (`Retry-After`), on a 503. */
    readonly retryAfter: number | null = null,
    /**
     * On a 503 of a sign-in: the key that finishes it (`error.resume`), sent back with the same
     * ticket. A secret: never logged.
     */
    readonly resume: string | null = null,
  ) {
    super(message);
  }

  /**
   * The session is over (401): the server's code says why. Not for the 401s that are about a
   * proof of identity, not the session: `reauthentication_required` (ask the user to
   * authenticate again, the session stays) and `ticket_reused`.
   */
  get isSignedOut(): boolean {
    return this.status === 401 && this.code !== "reauthentication_required" && this.code !== "ticket_reused";
  }
}

/** The API could not be reached (offline, DNS, CORS refused, aborted). */
export class SessionNetworkError extends Error {
  override readonly name = "SessionNetworkError";
  constructor(override readonly cause: unknown) {
    super(`the session API could not be reached: ${String(cause)}`);
  }
}
