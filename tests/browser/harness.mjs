// What the browser tests share: Debian's Chromium launched headless by playwright-core (with the
// flags this machine's closed network needs), and TAP-like steps that remember a failure.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../infra/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Steps printed as `ok - name` / `not ok - name`; `failed` tells whether one failed. */
export function steps() {
  const state = { failed: false };
  const step = async (name, body) => {
    try {
      await body();
      console.log(`ok - ${name}`);
    } catch (error) {
      state.failed = true;
      console.log(`not ok - ${name}\n  ${String(error.stack || error).replaceAll("\n", "\n  ")}`);
      throw error;
    }
  };
  return { step, get failed() {
    return state.failed;
  } };
}
