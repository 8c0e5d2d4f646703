// The React bindings on the server (Node has no `window`): importing them and rendering with
// them must not touch the browser, and the server renders the `loading` state.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createElement } from "react";
import { renderToString } from "react-dom/server";

import { createSessionClient } from "../source/index.js";
import { SessionProvider, useSession } from "../source/react.js";

function Status() {
  const { status, session } = useSession();
  return createElement("p", { "data-state": status }, session?.user_id ?? "nobody");
}

test("the server renders the loading state without touching window", () => {
  assert.equal(typeof (globalThis as { window?: unknown }).window, "undefined");
  const fetch = (async () => {
    throw new Error("no request while rendering on the server");
  }) as typeof globalThis.fetch;
  const client = createSessionClient({ baseUrl: "https://api.example.com", fetch });

  const html = renderToString(createElement(SessionProvider, { client }, createElement(Status)));

  assert.equal(html, '<p data-state="loading">nobody</p>');
});

test("useSession outside a provider says what is missing", () => {
  assert.throws(() => renderToString(createElement(Status)), /SessionProvider/);
});
