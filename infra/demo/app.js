// The demo frontend on the JavaScript client (clients/js, served by the demo server under
// /sdk/). See README "Frontend integration".
import { createSessionClient } from "/sdk/index.js";

const API = new URLSearchParams(location.search).get("api") || "http://localhost:9000";
const sessions = createSessionClient({ baseUrl: API });

const $ = (id) => document.getElementById(id);
$("page-origin").textContent = location.origin;
$("api-base").textContent = API;

function show(label, status, body) {
  $("out").textContent = `${label}: ${status}\n` + JSON.stringify(body, null, 2);
  $("out").dataset.status = String(status);
}

// The page follows the client's state, whichever tab changed it.
sessions.subscribe((state) => {
  const session = state.status === "signed-in" ? state.session : null;
  $("status").dataset.state = state.status;
  $("status").textContent = session
    ? `signed in as ${session.user_id}${session.tenant_id ? " @ " + session.tenant_id : ""}`
    : state.status === "signed-out"
      ? `signed out${state.reason && state.reason !== "signed_out" ? ` (${state.reason})` : ""}`
      : "loading";
  for (const id of ["show", "refresh", "devices-btn", "sign-out"]) $(id).disabled = !session;
  if (!session) $("devices").replaceChildren();
});

/** Runs an action; an error is shown with its status and code (a 503 or a network error keeps the session). */
async function run(label, action) {
  try {
    await action();
  } catch (error) {
    show(label, error.status ?? "network-error", { error: { code: error.code, message: error.message } });
  }
}

$("sign-in").onclick = () => run("POST /sessions", async () => {
  // 1. A login ticket from "your identity provider" (the demo server, same origin as this page).
  const ticket = await fetch("/dev-login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: $("user").value, tenant: $("tenant").value || null }),
  }).then((r) => r.json());
  // 2. Trade it for a session: the answer sets the HttpOnly cookie.
  const profile = $("remember").checked ? "remember" : undefined;
  show("POST /sessions", 201, await sessions.signIn(ticket.id_token, { data: { theme: "light" }, profile }));
});

$("show").onclick = () => run("GET /sessions/current", async () => {
  const session = await sessions.current({ force: true });
  show("GET /sessions/current", session ? 200 : 401, session);
});

$("refresh").onclick = () => run("POST /sessions/current/refresh", async () => {
  const session = await sessions.refresh();
  show("POST /sessions/current/refresh", session ? 200 : 401, session);
});

$("devices-btn").onclick = () => run("GET /sessions", async () => {
  const devices = await sessions.devices();
  show("GET /sessions", 200, { sessions: devices });
  $("devices").replaceChildren(
    ...devices.map((s) => {
      const li = document.createElement("li");
      li.textContent = `${s.device.label}${s.current ? " (this device)" : ""}, last seen ${s.last_seen_at}, ${s.profile}`;
      li.dataset.profile = s.profile;
      li.dataset.current = String(s.current);
      return li;
    }),
  );
});

$("sign-out").onclick = () => run("DELETE /sessions/current", async () => {
  await sessions.signOut();
  show("DELETE /sessions/current", 204, null);
});

// On load: are we signed in already (the cookie survives reloads)?
sessions.current().catch(() => {});
