// The whole frontend integration, in plain fetch calls. See README "Frontend integration".
const API = new URLSearchParams(location.search).get("api") || "http://localhost:9000";

const $ = (id) => document.getElementById(id);
$("page-origin").textContent = location.origin;
$("api-base").textContent = API;

/** Calls the session API with the cookie; returns { status, body }. */
async function api(method, path, body) {
  const init = { method, credentials: "include", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function show(label, result) {
  $("out").textContent = `${label}: ${result.status}\n` + JSON.stringify(result.body, null, 2);
  $("out").dataset.status = String(result.status);
}

function setSignedIn(session) {
  const signedIn = Boolean(session);
  $("status").dataset.state = signedIn ? "signed-in" : "signed-out";
  $("status").textContent = signedIn
    ? `signed in as ${session.user_id}${session.tenant_id ? " @ " + session.tenant_id : ""}`
    : "signed out";
  for (const id of ["show", "refresh", "devices-btn", "sign-out"]) $(id).disabled = !signedIn;
  if (!signedIn) $("devices").replaceChildren();
}

async function run(label, action) {
  try {
    await action();
  } catch (error) {
    $("out").textContent = `${label}: ${error}`;
    $("out").dataset.status = "network-error";
  }
}

$("sign-in").onclick = () => run("sign in", async () => {
  // 1. A login ticket from "your identity provider" (the demo server, same origin as this page).
  const ticket = await fetch("/dev-login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: $("user").value, tenant: $("tenant").value || null }),
  }).then((r) => r.json());
  // 2. Trade it for a session: the answer sets the HttpOnly cookie.
  const result = await api("POST", "/sessions", { id_token: ticket.id_token, data: { theme: "light" } });
  show("POST /sessions", result);
  if (result.status === 201) setSignedIn(result.body);
});

$("show").onclick = () => run("show", async () => {
  const result = await api("GET", "/sessions/current");
  show("GET /sessions/current", result);
  setSignedIn(result.status === 200 ? result.body : null);
});

$("refresh").onclick = () => run("refresh", async () => {
  const result = await api("POST", "/sessions/current/refresh");
  show("POST /sessions/current/refresh", result);
  setSignedIn(result.status === 200 ? result.body : null);
});

$("devices-btn").onclick = () => run("devices", async () => {
  const result = await api("GET", "/sessions");
  show("GET /sessions", result);
  if (result.status !== 200) return setSignedIn(null);
  $("devices").replaceChildren(
    ...result.body.sessions.map((s) => {
      const li = document.createElement("li");
      li.textContent = `${s.device.label}${s.current ? " (this device)" : ""}, last seen ${s.last_seen_at}`;
      li.dataset.current = String(s.current);
      return li;
    }),
  );
});

$("sign-out").onclick = () => run("sign out", async () => {
  const result = await api("DELETE", "/sessions/current");
  show("DELETE /sessions/current", result);
  if (result.status === 204) setSignedIn(null);
});

// On load: are we signed in already (the cookie survives reloads)?
run("load", async () => {
  const result = await api("GET", "/sessions/current");
  if (result.status === 200) setSignedIn(result.body);
});
