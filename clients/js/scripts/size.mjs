// The client's size as a browser app ships it: what an app imports from the package's entry
// (the client and its errors; the rest of the entry is types) bundled and minified by esbuild
// (ESM, tree-shaken, split at dynamic imports as an app's bundler splits them), then gzipped.
// What loads with the entry counts every chunk it imports statically; the chunks loaded on
// demand are measured apart: `getToken`'s code (by its first call) and the lock fallbacks (only
// without Web Locks). Prints a Markdown table for docs/BENCHMARKS.md (make bench). Budget: 5 kB
// min+gzip for the browser client; the React bindings apart.
import { build } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const work = mkdtempSync(join(tmpdir(), "client-size-"));
const entry = (name, contents) => {
  const file = join(work, `${name}.ts`);
  writeFileSync(file, contents);
  return file;
};
const source = (module) => JSON.stringify(resolve("source", module));

/** Sizes of the chunks of `file`'s bundle: what loads with the entry (its chunk and the chunks
 * it imports statically, code it shares with a chunk loaded on demand), and the ones loaded on
 * demand (those holding `module`, and the others). */
async function measure(file, module = "") {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    splitting: true,
    minify: true,
    format: "esm",
    target: "es2022",
    external: ["react"],
    outdir: join(work, "out"),
    write: false,
    metafile: true,
  });
  const size = (output) => {
    const code = result.outputFiles.find((file) => file.path === resolve(output)).contents;
    return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
  };
  const outputs = Object.entries(result.metafile.outputs).filter(([path]) => path.endsWith(".js"));
  const [entryChunk] = outputs.find(([, output]) => output.entryPoint !== undefined);
  const loaded = new Set([entryChunk]);
  for (const path of loaded) {
    for (const { path: imported, kind, external } of result.metafile.outputs[path].imports) {
      if (kind === "import-statement" && !external) loaded.add(imported);
    }
  }
  const onDemand = outputs.filter(([path]) => !loaded.has(path));
  const holds = ([, output]) => Object.keys(output.inputs).some((input) => input.endsWith(module));
  const total = (chunks) =>
    chunks
      .map(([path]) => size(path))
      .reduce((a, b) => ({ minified: a.minified + b.minified, gzipped: a.gzipped + b.gzipped }), { minified: 0, gzipped: 0 });
  return {
    main: total(outputs.filter(([path]) => loaded.has(path))),
    holding: total(onDemand.filter((chunk) => holds(chunk))),
    others: total(onDemand.filter((chunk) => !holds(chunk))),
  };
}

try {
  const client = await measure(
    entry("client", `export { createSessionClient, SessionApiError, SessionNetworkError } from ${source("index.ts")};`),
    "source/service-tokens.ts",
  );
  const react = await measure(entry("react", `export * from ${source("react.ts")};`));
  const kb = (bytes) => (bytes / 1000).toFixed(2);
  console.log("| bundle | minified (kB) | min+gzip (kB) |");
  console.log("|---|---|---|");
  console.log(`| @session-service/client (browser client) | ${kb(client.main.minified)} | ${kb(client.main.gzipped)} |`);
  console.log(`| its \`getToken\`, loaded by the first call | ${kb(client.holding.minified)} | ${kb(client.holding.gzipped)} |`);
  console.log(`| its lock fallbacks, loaded only without Web Locks | ${kb(client.others.minified)} | ${kb(client.others.gzipped)} |`);
  console.log(`| @session-service/client/react (bindings; React itself not counted) | ${kb(react.main.minified)} | ${kb(react.main.gzipped)} |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
