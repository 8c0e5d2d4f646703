// Recipe: an app whose session lives in an iron-session cookie (sealed with a password, no
// store) moves behind the session service's guard. The cookie cannot be destroyed on the server:
// the service itself refuses to exchange it a second time (after its rotation grace).
import { unsealData } from "iron-session";
import { cookieOf } from "./express-session.mjs";

/** The `migrate` option's legacy half for an iron-session cookie sealed with `password`. */
export function fromIronSession({ password, name = "iron-session" }) {
  return {
    cookies: [name],
    resolve: async (req) => {
      const sealed = cookieOf(req, name);
      if (sealed === null) return null;
      // A forged or expired seal unseals to {}: the ordinary signed-out answer.
      const old = await unsealData(sealed, { password });
      if (typeof old.userId !== "string") return null;
      return { user_id: old.userId, data: { locale: old.locale ?? "en" }, amr: old.mfa ? ["pwd", "otp"] : ["pwd"] };
    },
  };
}
