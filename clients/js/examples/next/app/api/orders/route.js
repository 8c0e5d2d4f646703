// app/api/orders/route.js: a route handler that needs a session.
import { withSession } from "@session-service/client/server";

export const GET = withSession((request, session) => Response.json({ user: session.user_id, orders: [] }), {
  apiUrl: process.env.SESSION_API_URL,
});
