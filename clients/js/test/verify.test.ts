// verifySessionToken against tokens signed by `jose` (an independent JOSE library) with keys
// generated here, the key set served by a scripted fetch that counts its calls.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SignJWT, exportJWK, generateKeyPair, type CryptoKey as JoseKey, type JWK } from "jose";

import { SessionTokenError, verifySessionToken } from "../source/server.js";
import { forgetKeySets } from "../source/verify.js";

const JWKS_URL = "https://api.example.com/.well-known/jwks.json";
const ISSUER = "https://api.example.com";

interface Signer {
  kid: string;
  privateKey: JoseKey;
  jwk: JWK;
}

async function signer(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { kid, privateKey, jwk };
}

/** A fetch serving the key set of `published()` (which may change), counting its calls. */
function keySet(published: () => JWK[]) {
  const served = { calls: 0, fail: false };
  const fetch = (async () => {
    served.calls += 1;
    if (served.fail) return new Response("down", { status: 503 });
    return new Response(JSON.stringify({ keys: published() }), {
      headers: { "content-type": "application/json", "cache-control": "public, max-age=300" },
    });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, served };
}

function token(key: Signer, claims: Record<string, unknown> = {}, audience = "orders") {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: ISSUER,
    sub: "alice",
    aud: audience,
    iat: now,
    exp: now + 300,
    jti: "j1",
    sid: "6f1c0000-0000-4000-8000-000000000000",
    auth_time: now,
    profile: "default",
    ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" }).sign(key.privateKey);
}

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof SessionTokenError && error.code === code);
}

test("a good token's claims come back; another audience or issuer is refused", async () => {
  forgetKeySets();
  const a = await signer("a");
  const { fetch } = keySet(() => [a.jwk]);
  const claims = await verifySessionToken(await token(a, { data: { plan: "pro" } }), { jwksUrl: JWKS_URL, audience: "orders", fetch });
  assert.equal(claims.sub, "alice");
  assert.deepEqual(claims.data, { plan: "pro" });
  await refused(verifySessionToken(await token(a, {}, "search"), { jwksUrl: JWKS_URL, audience: "orders", fetch }), "wrong_audience");
  await refused(
    verifySessionToken(await token(a), { jwksUrl: JWKS_URL, audience: "orders", issuer: "https://other.example", fetch }),
    "wrong_issuer",
  );
});

test("expiry has a bounded tolerance, and a token from the future is not valid yet", async () => {
  forgetKeySets();
  const a = await signer("a");
  const { fetch } = keySet(() => [a.jwk]);
  const now = Math.floor(Date.now() / 1000);
  const lately = await token(a, { exp: now - 10 });
  await refused(verifySessionToken(lately, { jwksUrl: JWKS_URL, audience: "orders", fetch, clockTolerance: 0 }), "expired");
  assert.equal((await verifySessionToken(lately, { jwksUrl: JWKS_URL, audience: "orders", fetch })).sub, "alice");
  const long = await token(a, { exp: now - 3600 });
  await refused(verifySessionToken(long, { jwksUrl: JWKS_URL, audience: "orders", fetch, clockTolerance: 86_400 }), "expired");
  await refused(verifySessionToken(await token(a, { iat: now + 600 }), { jwksUrl: JWKS_URL, audience: "orders", fetch }), "not_yet_valid");
});

test("tampering, alg confusion, a session token and a key set that is down are refused", async () => {
  forgetKeySets();
  const a = await signer("a");
  const { fetch, served } = keySet(() => [a.jwk]);
  const options = { jwksUrl: JWKS_URL, audience: "orders", fetch };
  const good = await token(a);
  const [header, payload, signature] = good.split(".") as [string, string, string];
  const forged = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  forged["sub"] = "mallory";
  await refused(verifySessionToken(`${header}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${signature}`, options), "bad_signature");
  // HS256 keyed with the public key's JWK: the classic confusion.
  const confused = await new SignJWT({ sid: "s" })
    .setProtectedHeader({ alg: "HS256", kid: "a" })
    .setIssuer(ISSUER)
    .setSubject("alice")
    .setAudience("orders")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(JSON.stringify(a.jwk)));
  await refused(verifySessionToken(confused, options), "unsupported_algorithm");
  await refused(verifySessionToken("v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", options), "malformed");
  forgetKeySets();
  served.fail = true;
  await refused(verifySessionToken(good, options), "keys_unavailable");
});

test("a rotation as the runbook does it fails no verification", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  forgetKeySets();
  const [a, b] = [await signer("a"), await signer("b")];
  let published = [a.jwk];
  const { fetch, served } = keySet(() => published);
  const options = { jwksUrl: JWKS_URL, audience: "orders", fetch };
  const byA = await token(a);
  await verifySessionToken(byA, options);
  await verifySessionToken(byA, options);
  assert.equal(served.calls, 1, "the set is cached");
  // 1. The new key is published; the old one still signs.
  published = [a.jwk, b.jwk];
  await verifySessionToken(await token(a), options);
  // 2. At least one cache lifetime (max-age 300 s) later, the new key signs.
  t.mock.timers.tick(301_000);
  published = [b.jwk, a.jwk];
  const byB = await token(b);
  await verifySessionToken(byB, options);
  assert.equal(served.calls, 2, "the stale set was fetched again");
  await verifySessionToken(await token(a), options);
  // A verifier whose set predates the new key (cached before step 1) fetches on the new kid.
  forgetKeySets();
  published = [a.jwk];
  await verifySessionToken(await token(a), options);
  published = [b.jwk, a.jwk];
  t.mock.timers.tick(31_000);
  await verifySessionToken(await token(b), options);
  assert.equal(served.calls, 4);
  // 3. The old key withdrawn: what it signed is refused once the set is fetched again.
  published = [b.jwk];
  t.mock.timers.tick(301_000);
  await verifySessionToken(await token(b), options);
  await refused(verifySessionToken(await token(a), options), "unknown_key");
});

test("unknown kids fetch the set again at most every 30 s", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  forgetKeySets();
  const a = await signer("a");
  const { fetch, served } = keySet(() => [a.jwk]);
  const options = { jwksUrl: JWKS_URL, audience: "orders", fetch };
  await verifySessionToken(await token(a), options);
  for (const kid of ["x", "y", "z"]) {
    await refused(verifySessionToken(await token(await signer(kid)), options), "unknown_key");
  }
  assert.equal(served.calls, 1, "forged kids within 30 s: no fetch");
  t.mock.timers.tick(30_000);
  await refused(verifySessionToken(await token(await signer("w")), options), "unknown_key");
  assert.equal(served.calls, 2);
});

test("a stale key set with the API down keeps verifying, fetching again at most every 30 s", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  forgetKeySets();
  const a = await signer("a");
  const { fetch, served } = keySet(() => [a.jwk]);
  const options = { jwksUrl: JWKS_URL, audience: "orders", fetch };
  await verifySessionToken(await token(a), options);
  served.fail = true;
  t.mock.timers.tick(301_000);
  for (let i = 0; i < 5; i++) await verifySessionToken(await token(a), options);
  assert.equal(served.calls, 2, "one failed fetch, then the stale keys");
  t.mock.timers.tick(30_000);
  await verifySessionToken(await token(a), options);
  assert.equal(served.calls, 3);
});
