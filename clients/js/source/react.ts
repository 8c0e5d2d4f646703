// React bindings (`@session-service/client/react`): a provider for one client and a hook that
// re-renders on every state change. Server rendering safe: nothing here touches `window`, and
// the server renders the `loading` state.
import { createContext, createElement, useContext, useEffect, useMemo, useSyncExternalStore } from "react";
import type { ReactNode } from "react";

import type { SessionClient } from "./client.js";
import { sessionOf } from "./states.js";
import type { Actor, Session, SessionState, SignOutReason } from "./types.js";

const ClientContext = createContext<SessionClient | null>(null);

export interface SessionProviderProps {
  /** The client (`createSessionClient`), created once for the app. */
  client: SessionClient;
  children?: ReactNode;
}

/** Makes `client` available to `useSession()` below it, and asks for the session on mount. */
export function SessionProvider({ client, children }: SessionProviderProps) {
  useEffect(() => {
    if (client.state.status === "loading") client.current().catch(() => {});
  }, [client]);
  return createElement(ClientContext.Provider, { value: client }, children);
}

const LOADING: SessionState = { status: "loading" };

export interface UseSession {
  status: SessionState["status"];
  /** The session when signed in (or a guest's), else `null`. */
  session: Session | null;
  /** A guest session: the visitor has not signed in, but has data (a cart). */
  guest: boolean;
  /** Why signed out (the server's code, or `signed_out`), else `null`. */
  reason: SignOutReason | null;
  /** Who acts for the user in an impersonation (support) session, else `null`: show a banner. */
  actor: Actor | null;
  signIn: SessionClient["signIn"];
  signOut: SessionClient["signOut"];
  signOutEverywhere: SessionClient["signOutEverywhere"];
  refresh: SessionClient["refresh"];
  current: SessionClient["current"];
  devices: SessionClient["devices"];
  revokeDevice: SessionClient["revokeDevice"];
  updateData: SessionClient["updateData"];
  fetch: SessionClient["fetch"];
}

/** The session state of the provider's client, and its actions. */
export function useSession(): UseSession {
  const client = useContext(ClientContext);
  if (client === null) throw new Error("useSession() needs a <SessionProvider client={...}> above it");
  const state = useSyncExternalStore(
    client.subscribe,
    () => client.state,
    () => LOADING,
  );
  return useMemo(
    () => ({
      status: state.status,
      session: sessionOf(state),
      guest: state.status === "guest",
      reason: state.status === "signed-out" ? state.reason : null,
      actor: state.status === "signed-in" ? (state.session.actor ?? null) : null,
      signIn: client.signIn,
      signOut: client.signOut,
      signOutEverywhere: client.signOutEverywhere,
      refresh: client.refresh,
      current: client.current,
      devices: client.devices,
      revokeDevice: client.revokeDevice,
      updateData: client.updateData,
      fetch: client.fetch,
    }),
    [state, client],
  );
}
