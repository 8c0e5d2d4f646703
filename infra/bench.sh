#!/usr/bin/env bash
# `make bench`: every benchmark, on a DynamoDB Local of its own: the release build of every
# function (`cargo lambda build --release`: zip sizes), cold start, memory and throughput of those
# binaries under a local Lambda Runtime API (tests/benches/lambda.rs), and validate latency
# against a raw GetItem (tests/benches/validate.rs), sign-in and refresh latency
# (tests/benches/writes.rs), session tokens for other services (tests/benches/tokens.rs,
# clients/js/scripts/verify-bench.mjs). Rewrites docs/BENCHMARKS.md with the machine,
# date and commit, keeping the previous run below the new one for comparison. Not part of CI
# (timing; the release build alone takes 10-20 minutes on 2 cores).
# BASELINE=<rev> also builds session-validate at that revision and adds its cold starts to the
# comparison of what each function builds at start-up (make bench BASELINE=505d444: the last
# revision whose every function built the identity verifier).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_java
ensure_dynamodb_local
ensure_cargo_lambda
trap stop_started EXIT
trap 'exit 130' INT TERM
set -m
port="$(free_port)"
start_dynamodb "$port"
use_local_aws "http://127.0.0.1:$port"
use_dev_auth_defaults
# The tokens bench signs with a key on moto's KMS.
ensure_moto
moto_port="$(free_port)"
start_moto "$moto_port"
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$moto_port"
cd "$ROOT_DIR"

target_dir="${CARGO_TARGET_DIR:-$ROOT_DIR/target}"
if [ -n "${BASELINE:-}" ]; then
  log "session-validate at $BASELINE (release), for the cold-start comparison"
  baseline_tree="$STATE_DIR/baseline-src"
  rm -rf "$baseline_tree"
  git worktree prune
  git worktree add --detach --force "$baseline_tree" "$BASELINE" >/dev/null
  (cd "$baseline_tree" && CARGO_TARGET_DIR="$target_dir" cargo lambda build --quiet --release --x86-64 -p session-validate)
  mkdir -p "$STATE_DIR/baseline"
  cp "$target_dir/lambda/session-validate/bootstrap" "$STATE_DIR/baseline/session-validate"
  git worktree remove --force "$baseline_tree"
  export BENCH_BASELINE_VALIDATE="$STATE_DIR/baseline/session-validate"
fi

# session-events and session-webhooks, and session-token, on their own (function_packages says why).
mapfile -t packages < <(function_packages)
log "release build of every function (cargo lambda build --release --x86-64; long the first time)"
cargo lambda build --quiet --release --x86-64 "${packages[@]}"
cargo lambda build --quiet --release --x86-64 --output-format zip "${packages[@]}"
cargo lambda build --quiet --release --x86-64 -p session-events -p session-webhooks
cargo lambda build --quiet --release --x86-64 --output-format zip -p session-events -p session-webhooks
cargo lambda build --quiet --release --x86-64 -p session-token
cargo lambda build --quiet --release --x86-64 --output-format zip -p session-token
sizes="$(
  echo "Release build (\`cargo lambda build --release --x86-64\`; lto, codegen-units 1, strip):"
  echo
  echo "| function | bootstrap (MB) | bootstrap.zip (MB) |"
  echo "|---|---|---|"
  for dir in "${CARGO_TARGET_DIR:-target}"/lambda/*/; do
    name="$(basename "$dir")"
    awk -v n="$name" -v b="$(stat -c %s "$dir/bootstrap")" -v z="$(stat -c %s "$dir/bootstrap.zip")" \
      'BEGIN { printf "| %s | %.2f | %.2f |\n", n, b / 1048576, z / 1048576 }'
  done
)"
echo "$sizes"

log "the bootstrap binaries under a local Lambda Runtime API: cold start, memory, throughput"
lambda="$(cargo bench --quiet -p session-tests --bench lambda)"
echo "$lambda"

log "validate latency: handler vs raw GetItem"
latency="$(cargo bench --quiet -p session-tests --bench validate)"
echo "$latency"
log "write latency: sign-in and refresh, and a rotation's writes in either shape"
writes="$(cargo bench --quiet -p session-tests --bench writes)"
echo "$writes"
log "session tokens for other services: mint latency (moto's KMS), token size, Rust verification"
tokens="$(cargo bench --quiet -p session-tests --bench tokens)"
echo "$tokens"
log "the JavaScript client's size (esbuild bundle, minified, gzipped), and its token verifier's cost"
ensure_node
client_size="$(cd clients/js && npm ci --no-audit --no-fund --loglevel=error >&2 && node scripts/size.mjs)"
echo "$client_size"
verify="$(cd clients/js && npm run --silent build >&2 && node scripts/verify-bench.mjs)"
echo "$verify"
result="$(printf '%s\n\n%s\n\n%s\n\n%s\n\n%s\n\n%s\n\nThe JavaScript client (clients/js), as a browser app ships it (budget 5 kB min+gzip):\n\n%s' "$sizes" "$lambda" "$latency" "$writes" "$tokens" "$verify" "$client_size")"

out="docs/BENCHMARKS.md"
mkdir -p docs
previous=""
if [ -f "$out" ]; then
  previous="$(sed -n '/^## Latest run/,/^## Previous run/{/^## Previous run/!p}' "$out" | sed '1d')"
fi
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (infra/bench.sh). Timings, not tests: CI does not run them"
  echo "(it runs the same benches as 20-iteration smoke tests, and the bounded load test)."
  echo "Operation counts per API call are deterministic and asserted in tests/tests/op_counts.rs."
  echo
  echo "Targets: zip <= 3 MB, cold start <= 20 ms, peak RSS <= 32 MB; a validate's whole"
  echo "invocation (event bytes to response bytes) at most 50 us over a raw GetItem at p50. The"
  echo "validate latency table times, interleaved with the raw GetItem: the store's read and the"
  echo "session layer alone (where the handler's time goes), the handler on a ready request, and"
  echo "the whole invocation as the runtime runs it (http::gateway reading the event into a"
  echo "request and writing the answer), given step by step under the table. Each step runs as in"
  echo "Lambda, right after a wait on the network, so its time is mostly cold caches, not work."
  echo
  echo "## Latest run"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"
  [ -n "${BASELINE:-}" ] && echo "- baseline for the cold-start comparison: session-validate at $BASELINE"
  echo "- machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), $(uname -sr)"
  echo "- DynamoDB Local $(basename "$(dirname "$(dynamodb_jar)")"), in memory, same host"
  echo
  echo "$result"
  echo
  echo "## Previous run"
  echo
  if [ -n "$previous" ]; then echo "$previous"; else echo "(none: this is the first run)"; fi
} >"$out.tmp"
mv "$out.tmp" "$out"
log "wrote $out"
