// A service that is not behind the session authorizer and never reads the session table: the
// browser sends it a session token for its audience (`await sessions.getToken({ audience })`),
// and it checks the token offline against the session API's published keys.
import { createServer } from "node:http";
import { verifySessionToken } from "@session-service/client/server";

const jwksUrl = `${process.env.SESSION_API_URL}/.well-known/jwks.json`;
const audience = process.env.TOKEN_AUDIENCE ?? "orders-api"; // one of SESSION_TOKEN_AUDIENCES

createServer(async (req, res) => {
  const jwt = (req.headers.authorization ?? "").replace(/^Bearer /, "");
  try {
    const claims = await verifySessionToken(jwt, { jwksUrl, audience });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ user: claims.sub, actor: claims.act?.sub ?? null }));
  } catch (error) {
    // The key set unreachable is not the caller's fault: let it retry.
    res.writeHead(error.code === "keys_unavailable" ? 503 : 401).end();
  }
}).listen(Number(process.env.PORT ?? 4000));
