// The React bindings in a page (infra/demo/react.html): what the browser tests drive and what
// the demo shows beside the plain-JavaScript page. Bundled by scripts/build-demo.mjs.
import { createElement } from "react";
import { createRoot } from "react-dom/client";

import { createSessionClient } from "../source/index.js";
import { SessionProvider, useSession } from "../source/react.js";

const api = new URLSearchParams(location.search).get("api") ?? "http://localhost:9000";
const sessions = createSessionClient({ baseUrl: api });
(window as unknown as { sessions: typeof sessions }).sessions = sessions;

function Account() {
  const { status, session, guest, reason, actor, signOut } = useSession();
  const cart = JSON.stringify(session?.data["cart"] ?? []);
  const text =
    status === "signed-in"
      ? `signed in as ${session?.user_id ?? ""}`
      : guest
        ? `guest with cart ${cart}`
        : status === "signed-out"
          ? `signed out (${reason ?? "never signed in"})`
          : "loading";
  return createElement(
    "p",
    { id: "react-status", "data-state": status, "data-reason": reason ?? "" },
    text,
    status === "signed-in" ? createElement("button", { id: "react-sign-out", onClick: () => void signOut() }, "Sign out") : null,
    // An impersonation (support) session: say who acts, as an app's banner would.
    actor ? createElement("strong", { id: "react-actor" }, `${actor.principal} acts for ${session?.user_id ?? ""}: ${actor.reason ?? ""}`) : null,
  );
}

const root = document.getElementById("root");
if (root) createRoot(root).render(createElement(SessionProvider, { client: sessions }, createElement(Account)));
