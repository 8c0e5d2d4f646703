// An Express backend that needs to know who is calling. The browser reaches it and the session
// API on one host (see next/next.config.mjs, or a CloudFront behaviour, for the rewrite of
// /sessions/*), so the host-only __Host- cookie comes along.
import express from "express";
import { sessionMiddleware } from "@session-service/client/server";

const apiUrl = process.env.SESSION_API_URL; // the session API, called server to server
const app = express();

// JSON routes: no session is a JSON 401 (the session API's own answer, cookie cleared).
app.use("/api", sessionMiddleware({ apiUrl }));
app.get("/api/orders", (req, res) => res.json({ user: req.session.user_id, orders: [] }));

// Pages: send signed-out visitors to the sign-in page instead.
const signedIn = sessionMiddleware({ apiUrl, onUnauthenticated: (req, res) => res.redirect("/sign-in") });
app.get("/account", signedIn, (req, res) => res.send(`Signed in as ${req.session.user_id}`));

app.listen(Number(process.env.PORT ?? 3000));
