// @session-service/client: the client half of the session service.
export { createSessionClient, memoryTokenStore } from "./client.js";
export type { SessionClient, SessionClientOptions, SignInOptions, UpdateDataOptions } from "./client.js";
export { SessionApiError, SessionNetworkError } from "./errors.js";
export type { KeepAliveEnvironment, KeepAliveOptions } from "./keepalive.js";
export type { StorageLike } from "./lease-locks.js";
export type { ChannelLike, LockManagerLike, SharedClock, SharedLocksLike, TabParts } from "./tabs.js";
export type {
  Actor,
  Device,
  ErrorCode,
  SecurityEvent,
  SecurityHistoryPage,
  Session,
  SessionData,
  SessionState,
  SignOutReason,
  TokenStore,
} from "./types.js";
export type { components, paths } from "./openapi.js";
