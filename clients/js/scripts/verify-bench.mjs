// What verifying a session token costs a Node service: verifySessionToken (WebCrypto) with its key
// set cached, beside jose's jwtVerify on the same token and key, in µs per verification. Tokens
// are signed here (ES256, jose); the key set is served by an in-process fetch. Prints a Markdown
// table for docs/BENCHMARKS.md (make bench). Usage: node scripts/verify-bench.mjs [count].
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";

import { verifySessionToken } from "../dist/source/server.js";

const count = Number(process.argv[2] ?? 20_000);
const { privateKey, publicKey } = await generateKeyPair("ES256");
const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" };
const jwksUrl = "https://api.example.com/.well-known/jwks.json";
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ sid: "s", auth_time: now, profile: "default", data: { plan: "pro", role: "member" } })
  .setProtectedHeader({ alg: "ES256", kid: "bench", typ: "JWT" })
  .setIssuer("https://api.example.com")
  .setSubject("alice")
  .setAudience("orders")
  .setIssuedAt(now)
  .setExpirationTime(now + 300)
  .setJti("j")
  .sign(privateKey);
const fetch = async () =>
  new Response(JSON.stringify({ keys: [jwk] }), { headers: { "cache-control": "public, max-age=300" } });
const options = { jwksUrl, audience: "orders", fetch };
const local = createLocalJWKSet({ keys: [jwk] });

async function time(verify) {
  for (let i = 0; i < Math.min(count, 1_000); i++) await verify();
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await verify();
  return Number(process.hrtime.bigint() - start) / 1_000 / count;
}

const ours = await time(() => verifySessionToken(token, options));
const jose = await time(() => jwtVerify(token, local, { issuer: "https://api.example.com", audience: "orders" }));
console.log(`Verifying a session token in Node ${process.version}, key set cached, ${count} in a row:`);
console.log();
console.log("| verifier | µs per verification |");
console.log("|---|---|");
console.log(`| verifySessionToken (@session-service/client/server, WebCrypto) | ${ours.toFixed(1)} |`);
console.log(`| jose jwtVerify (for comparison) | ${jose.toFixed(1)} |`);
