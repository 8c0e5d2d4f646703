#!/usr/bin/env bash
# `make package`: the build a deploy uses, as README "Deploy" runs it. `sam build` with the
# template's own build method (rust-cargolambda: cargo-lambda cross-compiles with zig, no
# Docker) for ARCH (arm64 by default, the template's default; x86_64 where the aarch64 Rust
# target cannot be installed), then every built bootstrap is checked: it needs no glibc newer
# than the provided.al2023 runtime's, and its zip stays within the size budget of
# docs/BENCHMARKS.md. Installs what it needs (cargo-lambda and its zig, the SAM CLI, the Rust
# target) from the package registries.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

ARCH="${ARCH:-arm64}"
case "$ARCH" in
  arm64) target=aarch64-unknown-linux-gnu ;;
  x86_64) target=x86_64-unknown-linux-gnu ;;
  *) log "ARCH must be arm64 or x86_64, not $ARCH"; exit 2 ;;
esac

ensure_cargo_lambda
ensure_sam_cli
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

log "sam build --beta-features for $ARCH (BuildMethod rust-cargolambda, release)"
export SAM_CLI_TELEMETRY=0
AWS_REGION="${AWS_REGION:-us-east-1}" sam build --beta-features \
  --parameter-overrides "Architecture=$ARCH" --build-dir .aws-sam/build

log "every bootstrap: glibc no newer than provided.al2023's, zip within budget"
python3 infra/check-package.py .aws-sam/build template.yaml
