#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack` of clients/js, installed from the tarball into a
# fresh project outside the repository (tests/package): each subpath imported as ESM, a strict
# TypeScript consumer checked against the installed types, and one sign-in against the stack.
# What `files`, `exports` and `types` in clients/js/package.json promise is what this proves.
# Usage: API_URL=... bash infra/package-test.sh (make test runs it; AUTH_JWT_* as the stack's).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${API_URL:?set API_URL to the local stack}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$ROOT_DIR/clients/js" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
mkdir "$work/app"
cp "$ROOT_DIR"/tests/package/{consumer.ts,main.mjs,tsconfig.json} "$work/app/"
cd "$work/app"
printf '{"name": "consumer", "version": "1.0.0", "private": true, "type": "module"}\n' >package.json
# The package alone from the tarball (no registry download); React and its types are the
# consumer's own, here the copies clients/js develops against.
npm install --silent --no-audit --no-fund --offline --omit=peer "$tarball" >/dev/null
for dependency in react @types/react; do
  mkdir -p "node_modules/$(dirname "$dependency")"
  ln -s "$ROOT_DIR/clients/js/node_modules/$dependency" "node_modules/$dependency"
done
"$ROOT_DIR/clients/js/node_modules/.bin/tsc" -p tsconfig.json
node main.mjs
