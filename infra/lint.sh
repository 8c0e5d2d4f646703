#!/usr/bin/env bash
# `make lint`: rustfmt, clippy (warnings are errors), and the SAM template linters (offline).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"


log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
ensure_sam_cli
ensure_cfn_lint
log "cfn-lint template.yaml"
cfn-lint template.yaml
export SAM_CLI_TELEMETRY=0
log "sam validate --lint"
AWS_REGION="${AWS_REGION:-us-east-1}" sam validate --lint --template-file template.yaml
