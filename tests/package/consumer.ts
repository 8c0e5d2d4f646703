// A TypeScript consumer of @session-service/client as installed from its tarball: the types of
// each subpath, strictly checked (`tsc --noEmit`). Not run: main.mjs runs the package.
import { createSessionClient, memoryTokenStore, SessionApiError } from "@session-service/client";
import type { Session, SessionState, SessionClient } from "@session-service/client";
import { SessionProvider, useSession } from "@session-service/client/react";
import type { UseSession } from "@session-service/client/react";
import { guard, sessionMiddleware, withSession } from "@session-service/client/server";
import type { Verdict } from "@session-service/client/server";

const client: SessionClient = createSessionClient({
  baseUrl: "https://api.example.com",
  mode: "bearer",
  tokenStore: memoryTokenStore(),
});
const state: SessionState = client.state;
export const signedIn: boolean = state.status === "signed-in";

export async function whoAmI(): Promise<string | null> {
  try {
    const session: Session | null = await client.current({ maxAuthAge: 300 });
    return session?.user_id ?? null;
  } catch (error) {
    if (error instanceof SessionApiError && error.isSignedOut) return null;
    throw error;
  }
}

export const check = guard({ apiUrl: "https://api.example.com", maxStaleness: 1_000 });
export async function verdictOf(headers: Headers): Promise<Verdict["kind"]> {
  return (await check(headers)).kind;
}
export const middleware = sessionMiddleware({ apiUrl: "https://api.example.com" });
export const handler = withSession((_request, session) => Response.json({ user: session.user_id }), {
  apiUrl: "https://api.example.com",
});
export const react: [typeof SessionProvider, () => UseSession] = [SessionProvider, useSession];
