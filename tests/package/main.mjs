// The installed package, run: an ESM import of each subpath, and one sign-in and read against
// the local stack (API_URL) with a login ticket signed with the stack's own HS256 settings.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";

import { createSessionClient, memoryTokenStore } from "@session-service/client";
import * as react from "@session-service/client/react";
import * as server from "@session-service/client/server";

assert.equal(typeof react.SessionProvider, "function");
assert.equal(typeof react.useSession, "function");
assert.equal(typeof server.guard, "function");
assert.equal(typeof server.sessionMiddleware, "function");
assert.equal(typeof server.withSession, "function");

const now = Math.floor(Date.now() / 1000);
const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const claims = {
  sub: "package-user",
  iss: process.env.AUTH_JWT_ISSUER,
  aud: process.env.AUTH_JWT_AUDIENCE,
  iat: now,
  exp: now + 300,
  jti: randomUUID(),
};
const message = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
const ticket = `${message}.${createHmac("sha256", process.env.AUTH_JWT_HS256_SECRET).update(message).digest("base64url")}`;

const client = createSessionClient({ baseUrl: process.env.API_URL, mode: "bearer", tokenStore: memoryTokenStore() });
const session = await client.signIn(ticket, { data: { from: "the tarball" } });
assert.equal(session.user_id, "package-user");
const again = await client.current({ force: true });
assert.equal(again?.session_id, session.session_id);
assert.deepEqual(again?.data, { from: "the tarball" });
await client.signOut();
assert.equal(client.state.status, "signed-out");
console.log("# the installed package signed in, read its session and signed out");
