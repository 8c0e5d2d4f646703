#!/usr/bin/env bash
# `make bench`: the benchmarks that exist so far (validate latency against a raw GetItem), on a
# DynamoDB Local of their own; rewrites docs/BENCHMARKS.md with the machine, date and commit,
# keeping the previous run below the new one for comparison. Not part of CI (timing).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_java
ensure_dynamodb_local
trap stop_started EXIT
trap 'exit 130' INT TERM
set -m
port="$(free_port)"
start_dynamodb "$port"
use_local_aws "http://127.0.0.1:$port"
use_dev_auth_defaults
cd "$ROOT_DIR"

log "validate latency: handler vs raw GetItem (release build, a few minutes the first time)"
result="$(cargo bench --quiet -p session-tests --bench validate)"
echo "$result"

out="docs/BENCHMARKS.md"
mkdir -p docs
previous=""
if [ -f "$out" ]; then
  previous="$(sed -n '/^## Latest run/,/^## Previous run/{/^## Previous run/!p}' "$out" | sed '1d')"
fi
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (infra/bench.sh). Timings, not tests: CI does not run them."
  echo "Operation counts per API call are deterministic and asserted in tests/tests/op_counts.rs."
  echo
  echo "## Latest run"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"
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
