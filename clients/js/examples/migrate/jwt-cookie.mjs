// Recipe: an app that kept a JWT (HS256) in a cookie moves behind the session service's guard.
// The JWT is verified with WebCrypto: its signature, and that it has not expired.
import { cookieOf } from "./express-session.mjs";

/** The `migrate` option's legacy half for a JWT cookie signed with the HS256 `secret`. */
export function fromJwtCookie({ secret, name = "token" }) {
  const key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  return {
    cookies: [name],
    resolve: async (req) => {
      const [header, payload, signature] = (cookieOf(req, name) ?? "").split(".");
      if (signature === undefined) return null;
      let claims;
      try {
        if (JSON.parse(Buffer.from(header, "base64url").toString()).alg !== "HS256") return null;
        const valid = await crypto.subtle.verify(
          "HMAC",
          await key,
          Buffer.from(signature, "base64url"),
          new TextEncoder().encode(`${header}.${payload}`),
        );
        if (!valid) return null;
        claims = JSON.parse(Buffer.from(payload, "base64url").toString());
      } catch {
        return null; // not a JWT
      }
      if (typeof claims.sub !== "string" || !(claims.exp > Date.now() / 1000)) return null;
      return { user_id: claims.sub, tenant_id: claims.org, authenticated_at: claims.iat };
    },
  };
}
