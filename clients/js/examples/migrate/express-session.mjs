// Recipe: an Express app on express-session moves its routes behind the session service's
// guard; users signed in with `connect.sid` stay signed in. Give it the store and the secret the
// app already has (RedisStore, connect-pg-simple, connect-dynamodb, or the MemoryStore).
import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The `migrate` option's legacy half for express-session: cookies, resolve, onMigrated.
 * `graceSeconds`: how long the old session still resolves once migrated, so that the other
 * tabs of a user, reloading at the same moment, are signed in too (the service gives them the
 * same session within its SESSION_ROTATION_GRACE, 30 s by default: keep the two equal).
 */
export function fromExpressSession({ store, secret, name = "connect.sid", graceSeconds = 30 }) {
  // express-session's cookie is `s:<id>.<base64 HMAC-SHA256 of id, no padding>`, URI-encoded.
  const idOf = (req) => {
    const raw = cookieOf(req, name);
    if (!raw?.startsWith("s:")) return null;
    const signed = raw.slice(2);
    const dot = signed.lastIndexOf(".");
    const id = signed.slice(0, dot);
    const expected = createHmac("sha256", secret).update(id).digest("base64").replace(/=+$/, "");
    const given = Buffer.from(signed.slice(dot + 1));
    return dot > 0 && given.length === expected.length && timingSafeEqual(given, Buffer.from(expected)) ? id : null;
  };
  const call = (method, ...args) =>
    new Promise((resolve, reject) => store[method](...args, (error, value) => (error ? reject(error) : resolve(value))));
  return {
    cookies: [name],
    resolve: async (req) => {
      const id = idOf(req);
      if (id === null) return null; // forged or unsigned: the ordinary signed-out answer
      const old = await call("get", id); // the store down throws: the guard answers 503
      if (!old?.user) return null; // expired or never signed in
      return { user_id: old.user.id, data: { cart: old.cart ?? [] }, authenticated_at: old.user.signedInAt };
    },
    // The old session ends once the other tabs had their chance: its cookie expires in
    // `graceSeconds` (the store drops it then; Redis and DynamoDB stores set their TTL from
    // it). Destroying it at once would sign out a tab whose request came a moment later.
    onMigrated: async (req) => {
      const id = idOf(req);
      const old = id === null ? null : await call("get", id);
      if (!old || old.migratedAt) return; // gone, or shortened by a parallel request already
      old.migratedAt = Date.now();
      old.cookie.expires = new Date(Date.now() + graceSeconds * 1000);
      await call("set", id, old);
    },
  };
}

/** The value of cookie `name` of a Node request (or a Web `Request`). */
export function cookieOf(req, name) {
  const header = typeof req.headers.get === "function" ? req.headers.get("cookie") : req.headers.cookie;
  for (const pair of (header ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at > 0 && pair.slice(0, at).trim() === name) return decodeURIComponent(pair.slice(at + 1).trim());
  }
  return null;
}
