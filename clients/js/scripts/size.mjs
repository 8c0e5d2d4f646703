// The client's size as a browser app ships it: source/index.ts bundled and minified by esbuild
// (ESM, tree-shaken), then gzipped. Prints a Markdown table row for docs/BENCHMARKS.md
// (make bench). Budget: 5 kB min+gzip for the browser client; the React bindings apart.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

async function measure(entry) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    external: ["react"],
    write: false,
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

const kb = (bytes) => (bytes / 1000).toFixed(2);
const client = await measure("source/index.ts");
const react = await measure("source/react.ts");
console.log("| bundle | minified (kB) | min+gzip (kB) |");
console.log("|---|---|---|");
console.log(`| @session-service/client (browser client) | ${kb(client.minified)} | ${kb(client.gzipped)} |`);
console.log(`| @session-service/client/react (bindings; React itself not counted) | ${kb(react.minified)} | ${kb(react.gzipped)} |`);
