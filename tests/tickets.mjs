// Login tickets for the JavaScript test scripts: HS256, signed with the stack's own settings
// (`make test` exports AUTH_JWT_HS256_SECRET, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE).
import { createHmac, randomUUID } from "node:crypto";

/** A login ticket for `user` issued `age` seconds ago (its `iat`: the proof's time without `auth_time`). */
export function ticketIssuedAgo(user, age) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = {
    sub: user,
    iss: process.env.AUTH_JWT_ISSUER,
    aud: process.env.AUTH_JWT_AUDIENCE,
    iat: now - age,
    exp: now + 300,
    jti: randomUUID(),
  };
  const message = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  const signature = createHmac("sha256", process.env.AUTH_JWT_HS256_SECRET).update(message).digest("base64url");
  return `${message}.${signature}`;
}

/** A login ticket for `user`, issued now. */
export const ticket = (user) => ticketIssuedAgo(user, 0);
