// The demo frontend's own server (make dev, make test): serves infra/demo/ on another origin
// than the API, the built JavaScript client (clients/js/dist/source) under /sdk/, and
// POST /dev-login mints an HS256 login ticket with the dev secret, standing in for your
// identity provider. Local use only. Node's standard library only.
// Usage: node infra/demo-server.mjs [port]   (env: AUTH_JWT_HS256_SECRET, _ISSUER, _AUDIENCE)
import { createHmac, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const port = Number(process.argv[2] || process.env.DEMO_PORT || 9001);
const root = join(fileURLToPath(new URL(".", import.meta.url)), "demo");
const sdk = join(fileURLToPath(new URL("..", import.meta.url)), "clients", "js", "dist", "source");
const { AUTH_JWT_HS256_SECRET: secret, AUTH_JWT_ISSUER: issuer, AUTH_JWT_AUDIENCE: audience } = process.env;
if (!secret || !issuer || !audience) {
  console.error("demo-server: set AUTH_JWT_HS256_SECRET, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE");
  process.exit(2);
}

const b64url = (data) => Buffer.from(data).toString("base64url");

function ticket(user, tenant) {
  const now = Math.floor(Date.now() / 1000);
  // A jti per ticket: tickets are single-use, and two minted in one second must differ.
  const claims = { sub: user, iss: issuer, aud: audience, iat: now, exp: now + 300, jti: randomUUID() };
  if (tenant) claims.tenant_id = tenant;
  const unsigned = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "POST" && url.pathname === "/dev-login") {
    let body = "";
    for await (const chunk of req) body += chunk;
    let user, tenant;
    try {
      ({ user, tenant } = JSON.parse(body || "{}"));
    } catch {
      user = undefined;
    }
    if (typeof user !== "string" || !user) {
      res.writeHead(400, { "Content-Type": "application/json" });
      return res.end(JSON.stringify({ error: { code: "invalid_request", message: "send {\"user\": \"alice\"}" } }));
    }
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    return res.end(JSON.stringify({ id_token: ticket(user, tenant) }));
  }
  // The client's modules by name (letters and hyphens: no path can be named).
  const module = /^\/sdk\/([a-z]+(?:-[a-z]+)*\.js)$/.exec(url.pathname);
  if (req.method === "GET" && module) {
    try {
      const file = await readFile(join(sdk, module[1]));
      res.writeHead(200, { "Content-Type": types[".js"], "Cache-Control": "no-store" });
      return res.end(file);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      return res.end("not found (build the client: cd clients/js && npm run build)");
    }
  }
  const name = url.pathname === "/" ? "index.html" : url.pathname.slice(1);
  if (req.method !== "GET" || !(name in { "index.html": 1, "app.js": 1, "sdk.html": 1, "react.html": 1 })) {
    res.writeHead(404, { "Content-Type": "text/plain" });
    return res.end("not found");
  }
  const file = await readFile(join(root, name));
  res.writeHead(200, { "Content-Type": types[extname(name)], "Cache-Control": "no-store" });
  res.end(file);
}).listen(port, "127.0.0.1", () => console.log(`demo frontend on http://localhost:${port}`));
