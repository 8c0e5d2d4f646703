// Recipe: the former session belongs to another backend (Django's `sessionid`, a Rails or
// Next.js app): ask it who the cookie belongs to, with the cookie, at its "who am I" endpoint.
import { cookieOf } from "./express-session.mjs";

/** The `migrate` option's legacy half: `url` answers `{"user_id", ...}` for a signed-in cookie, 401/403 otherwise. */
export function fromWhoAmI({ url, name = "sessionid", timeout = 2000 }) {
  return {
    cookies: [name],
    resolve: async (req) => {
      const value = cookieOf(req, name);
      if (value === null) return null;
      const answer = await fetch(url, {
        headers: { Cookie: `${name}=${encodeURIComponent(value)}` },
        signal: AbortSignal.timeout(timeout),
      }); // unreachable throws: the guard answers 503
      if (answer.status === 401 || answer.status === 403) return null;
      if (!answer.ok) throw new Error(`the old backend answered ${answer.status}`);
      const me = await answer.json();
      return { user_id: String(me.user_id), data: me.data ?? {}, authenticated_at: me.last_login };
    },
    // No onMigrated: the old backend's session ends on its own. Logging it out at once would
    // sign out the user's other tabs whose requests come a moment later; the service never
    // exchanges the cookie twice anyway.
  };
}
