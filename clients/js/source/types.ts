// The wire types, taken from the generated OpenAPI types (source/openapi.ts) and never restated.
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

/** A session as the API returns it. */
export type Session = Schemas["Session"];
/** Who acts for the user in an impersonation (support) session: show a banner. */
export type Actor = Schemas["Actor"];
/** One of the user's signed-in devices (`GET /sessions`). */
export type Device = Schemas["SessionListItem"];
/** One entry of the user's security history (`GET /sessions/current/events`). */
export type SecurityEvent = Schemas["HistoryEvent"];
/** A page of the security history and where the next one starts (`null`: the last page). */
export interface SecurityHistoryPage {
  readonly events: SecurityEvent[];
  readonly nextCursor: string | null;
}
/** The stable error codes of the API. */
export type ErrorCode = Schemas["Error"]["error"]["code"];
/** Session data: a JSON object. */
export type SessionData = Session["data"];

/**
 * Why the client is signed out: the server's error code (`unknown_error` for an answer without
 * one), or the user's own sign-out.
 */
export type SignOutReason = ErrorCode | "unknown_error" | "signed_out";

/** The client's state: a small explicit machine. */
export type SessionState =
  | { readonly status: "loading" }
  | { readonly status: "signed-in"; readonly session: Session }
  /** A guest session: a visitor who has not signed in keeps data (`POST /sessions/guest`). */
  | { readonly status: "guest"; readonly session: Session }
  | { readonly status: "signed-out"; readonly reason: SignOutReason | null };

/** Where a bearer-mode client keeps its session token (Node, React Native, a CLI). */
export interface TokenStore {
  get(): string | null | Promise<string | null>;
  set(token: string | null): void | Promise<void>;
}
