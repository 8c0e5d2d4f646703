#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target of shared/fuzz (the request parsers: cookie header,
# Authorization header, JWT login ticket, JSON bodies) for FUZZ_SECONDS (default 60) seconds,
# starting from the kept inputs. A crash is copied into shared/fuzz/regressions/<target>/, which
# `make test` replays (tests/tests/fuzz_regressions.rs), and the script fails. Needs the nightly
# toolchain (libFuzzer instrumentation); not part of CI, whose budget the runs would eat.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

seconds="${FUZZ_SECONDS:-60}"
targets=(cookie_header authorization_header id_token json_body)
if [ "$#" -gt 0 ]; then targets=("$@"); fi

if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly toolchain (cargo fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$ROOT_DIR/shared/fuzz"
failed=()
summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "regressions/$target"
  log "fuzzing $target for ${seconds}s"
  out="$STATE_DIR/fuzz-$target.log"
  if cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$out" 2>&1; then
    runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out" | tail -n1)"
    summary+=("$target: ${runs:-?} runs in ${seconds}s, corpus $(ls "corpus/$target" | wc -l) inputs, no crash")
  else
    tail -n 40 "$out" >&2
    for crash in "artifacts/$target"/crash-* "artifacts/$target"/oom-* "artifacts/$target"/timeout-*; do
      [ -f "$crash" ] && cp "$crash" "regressions/$target/" && log "kept $crash in regressions/$target/"
    done
    failed+=("$target")
    summary+=("$target: FAILED (see $out)")
  fi
done
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  log "crashes in: ${failed[*]}; fix them, then make test replays the kept inputs"
  exit 1
fi
