// Fails when source/openapi.ts is not what openapi-typescript makes of docs/openapi.yaml today:
// the wire types are generated, never edited by hand (`npm run types` regenerates them).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "openapi-types-"));
const fresh = join(dir, "openapi.ts");
try {
  execFileSync(
    "npx",
    ["--no-install", "openapi-typescript", "../../docs/openapi.yaml", "--empty-objects-unknown", "--output", fresh],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (readFileSync(fresh, "utf8") !== readFileSync("source/openapi.ts", "utf8")) {
    console.error("source/openapi.ts differs from docs/openapi.yaml: run `npm run types` in clients/js");
    process.exitCode = 1;
  } else {
    console.log("source/openapi.ts matches docs/openapi.yaml");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
