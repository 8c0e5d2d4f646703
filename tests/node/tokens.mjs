// Session tokens for other services against the real local stack (make test): tokens minted by
// `POST /sessions/current/token` (signed by moto's KMS) verified by `jose` (an independent JOSE
// library) against the stack's `/.well-known/jwks.json`, and by the package's own
// `verifySessionToken`; the refusals both must agree on; and the client's `getToken` in bearer
// mode (kept, one request). Usage: API_URL=http://localhost:9000 with the stack's
// AUTH_JWT_HS256_SECRET, AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE and SESSION_PUBLIC_ORIGIN, and an
// audience `demo-api` (make test exports them) node tests/node/tokens.mjs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

import { SignJWT, createRemoteJWKSet, errors, jwtVerify } from "../../clients/js/node_modules/jose/dist/webapi/index.js";
import { createSessionClient } from "../../clients/js/dist/source/index.js";
import { SessionTokenError, verifySessionToken } from "../../clients/js/dist/source/server.js";
import { steps } from "../steps.mjs";
import { ticket } from "../tickets.mjs";

const api = process.env.API_URL || "http://localhost:9000";
const issuer = process.env.SESSION_PUBLIC_ORIGIN;
const jwksUrl = `${api}/.well-known/jwks.json`;
const audience = "demo-api";
const run = steps();
const step = (name, body) => run.step(name, body).catch(() => {});

/** A bearer session of a user of this run: its token and user id. */
async function bearerSession() {
  const user = `tokens-${randomUUID().slice(0, 8)}`;
  const response = await fetch(`${api}/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ticket(user)}`, "content-type": "application/json" },
    body: JSON.stringify({ token_in_body: true, data: { theme: "dark", draft: "x" } }),
  });
  assert.equal(response.status, 201);
  return { session: (await response.json()).token, user };
}

async function mint(session) {
  const response = await fetch(`${api}/sessions/current/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${session}`, "content-type": "application/json" },
    body: JSON.stringify({ audience }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).token;
}

const keys = createRemoteJWKSet(new URL(jwksUrl));
const { session, user } = await bearerSession();
const jwt = await mint(session);

await step("jose verifies a minted token against the stack's key set", async () => {
  const { payload, protectedHeader } = await jwtVerify(jwt, keys, { issuer, audience, algorithms: ["ES256"] });
  assert.equal(protectedHeader.typ, "JWT");
  assert.equal(payload.sub, user);
  assert.deepEqual(payload.data, { theme: "dark" }, "only the audience's data keys");
  assert.ok(payload.exp - payload.iat <= 300);
});

await step("verifySessionToken agrees, and both refuse another audience", async () => {
  const claims = await verifySessionToken(jwt, { jwksUrl, audience, issuer });
  assert.equal(claims.sub, user);
  await assert.rejects(jwtVerify(jwt, keys, { issuer, audience: "billing" }), errors.JWTClaimValidationFailed);
  await assert.rejects(
    verifySessionToken(jwt, { jwksUrl, audience: "billing", issuer }),
    (error) => error instanceof SessionTokenError && error.code === "wrong_audience",
  );
});

await step("a tampered token and alg confusion are refused by both", async () => {
  const [header, payload, signature] = jwt.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url")}.${signature}`;
  await assert.rejects(jwtVerify(forged, keys, { issuer, audience }), errors.JWSSignatureVerificationFailed);
  await assert.rejects(verifySessionToken(forged, { jwksUrl, audience, issuer }), (e) => e.code === "bad_signature");
  // HS256 with the published key as the secret.
  const set = await (await fetch(jwksUrl)).json();
  const confused = await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", kid: set.keys[0].kid })
    .sign(new TextEncoder().encode(JSON.stringify(set.keys[0])));
  await assert.rejects(jwtVerify(confused, keys, { issuer, audience, algorithms: ["ES256"] }));
  await assert.rejects(verifySessionToken(confused, { jwksUrl, audience, issuer }), (e) => e.code === "unsupported_algorithm");
});

await step("a token is no session credential, and a session token is no JWT", async () => {
  const asSession = await fetch(`${api}/sessions/current`, { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(asSession.status, 401);
  await assert.rejects(jwtVerify(session, keys, { issuer, audience }));
  await assert.rejects(verifySessionToken(session, { jwksUrl, audience, issuer }), (e) => e.code === "malformed");
});

await step("the client's getToken keeps a token and mints one per audience", async () => {
  let mints = 0;
  const counted = (input, init) => {
    if (new URL(input.toString()).pathname === "/sessions/current/token") mints += 1;
    return fetch(input, init);
  };
  const client = createSessionClient({ baseUrl: api, mode: "bearer", fetch: counted, keepAlive: false });
  await client.signIn(ticket(`tokens-${randomUUID().slice(0, 8)}`));
  const [first, second] = await Promise.all([client.getToken({ audience }), client.getToken({ audience })]);
  assert.equal(first, second);
  assert.equal(await client.getToken({ audience }), first);
  assert.equal(mints, 1);
  await verifySessionToken(first, { jwksUrl, audience, issuer });
  await assert.rejects(client.getToken({ audience: "billing" }), (e) => e.code === "unknown_audience");
  assert.equal(client.state.status, "signed-in", "an unknown audience signs nobody out");
  await client.signOut();
  client.close();
});

/** A free loopback port. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

await step("the README's service example accepts a minted token and refuses anything else", async () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const file = new URL("../../clients/js/examples/orders-service.mjs", import.meta.url);
  assert.ok(readme.includes(readFileSync(file, "utf8")), "README.md must show clients/js/examples/orders-service.mjs as it is");
  const port = await freePort();
  // The key set fetched from the API's public origin, which is the tokens' issuer.
  const child = spawn(process.execPath, [file.pathname], {
    env: { ...process.env, PORT: String(port), SESSION_API_URL: issuer, TOKEN_AUDIENCE: audience },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    const call = async (authorization) => {
      for (let i = 0; i < 100; i++) {
        const answer = await fetch(`http://127.0.0.1:${port}/orders`, { headers: authorization ? { authorization } : {} }).catch(() => null);
        if (answer) return answer;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error("the service example did not start");
    };
    const ok = await call(`Bearer ${jwt}`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { user, actor: null });
    assert.equal((await call(`Bearer ${session}`)).status, 401);
    assert.equal((await call(null)).status, 401);
  } finally {
    child.kill();
  }
});

if (run.failed) process.exit(1);
