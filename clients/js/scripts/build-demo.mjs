// Bundles demo/react.tsx (React, react-dom and the client) into dist/source/reactdemo.js, which
// the demo server serves as /sdk/reactdemo.js for infra/demo/react.html.
import { build } from "esbuild";

await build({
  entryPoints: ["demo/react.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  define: { "process.env.NODE_ENV": '"production"' },
  outfile: "dist/source/reactdemo.js",
  logLevel: "warning",
});
