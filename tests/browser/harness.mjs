// What the browser tests share: Debian's Chromium launched headless by playwright-core (with the
// flags this machine's closed network needs), and the steps of tests/steps.mjs.
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

export { steps } from "../steps.mjs";
