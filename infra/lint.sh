#!/usr/bin/env bash
# `make lint`: rustfmt, clippy (warnings are errors), and the SAM template linters (offline).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT_DIR"

ensure_template_linters() {
  command -v cfn-lint >/dev/null 2>&1 && command -v sam >/dev/null 2>&1 && return
  log "installing cfn-lint and aws-sam-cli (PyPI)"
  pip_install cfn-lint==1.58.0 aws-sam-cli==1.170.0
}

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
ensure_template_linters
log "cfn-lint template.yaml"
cfn-lint template.yaml
export SAM_CLI_TELEMETRY=0
log "sam validate --lint"
AWS_REGION="${AWS_REGION:-us-east-1}" sam validate --lint --template-file template.yaml
