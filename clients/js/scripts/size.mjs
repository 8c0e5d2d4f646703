// The client's size as a browser app ships it: source/index.ts bundled and minified by esbuild
// (ESM, tree-shaken), then gzipped. Prints a Markdown table row for docs/BENCHMARKS.md
// (make bench). Budget: 5 kB min+gzip for the browser client.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

const result = await build({
  entryPoints: ["source/index.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  write: false,
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 });
const kb = (bytes) => (bytes / 1000).toFixed(2);
console.log("| bundle | minified (kB) | min+gzip (kB) |");
console.log("|---|---|---|");
console.log(`| @session-service/client (browser client) | ${kb(code.length)} | ${kb(gzipped.length)} |`);
