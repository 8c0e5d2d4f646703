#!/usr/bin/env bash
# `make dev`: DynamoDB Local + the table + every function behind `cargo lambda watch` on the
# real routes at http://localhost:${API_PORT:-9000}, and the demo frontend (infra/demo) on
# http://localhost:${DEMO_PORT:-9001}. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

API_PORT="${API_PORT:-9000}"
DEMO_PORT="${DEMO_PORT:-9001}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
MOTO_PORT="${MOTO_PORT:-9002}"

ensure_java
ensure_dynamodb_local
ensure_cargo_lambda
ensure_moto
trap stop_started EXIT
trap 'exit 130' INT TERM

if port_open "$DYNAMODB_PORT"; then
  log "something already listens on $DYNAMODB_PORT: using it as DynamoDB Local"
else
  start_dynamodb "$DYNAMODB_PORT"
fi
use_local_aws "http://127.0.0.1:$DYNAMODB_PORT"
# SQS (the webhook queues) and EventBridge on moto.
if port_open "$MOTO_PORT"; then
  log "something already listens on $MOTO_PORT: using it as moto"
else
  start_moto "$MOTO_PORT"
fi
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_EVENTBRIDGE="${AWS_ENDPOINT_URL_EVENTBRIDGE:-http://127.0.0.1:$MOTO_PORT}"
use_dev_auth_defaults
export SESSION_TABLE_NAME="${SESSION_TABLE_NAME:-sessions}"
# The local demo frontend's origin may send cookie-authenticated requests (CSRF allowlist, CORS).
export SESSION_ALLOWED_ORIGINS="${SESSION_ALLOWED_ORIGINS:-http://localhost:$DEMO_PORT}"
# The API's own origin (the CSRF check never trusts Host): what the README's curl examples send.
export SESSION_PUBLIC_ORIGIN="${SESSION_PUBLIC_ORIGIN:-http://localhost:$API_PORT}"
# Lifetime profiles: the demo page's "Remember me" box signs in under `remember`.
export SESSION_PROFILES="${SESSION_PROFILES:-$DEV_SESSION_PROFILES}"
export RUST_LOG="${RUST_LOG:-info}"

cd "$ROOT_DIR"
cargo run --quiet -p dev-tools --bin create-table
# Webhooks take the deployed path: session-events queues them, the queue pump hands them to
# session-webhooks, which retries a failing one on this schedule (seconds where the template has
# hours) and then moves it to the failure queue (make replay-webhooks).
create_webhook_queues session-webhooks
# Session tokens for other services: a signing key on moto's KMS (whose ECC keys really sign)
# and the demo's audience.
export AWS_ENDPOINT_URL_KMS="${AWS_ENDPOINT_URL_KMS:-http://127.0.0.1:$MOTO_PORT}"
if [ -z "${SESSION_TOKEN_KEYS:-}" ]; then
  eval "$(cargo run --quiet -p dev-tools --bin create-token-key)"
fi
export SESSION_TOKEN_AUDIENCES="${SESSION_TOKEN_AUDIENCES:-$DEV_SESSION_TOKEN_AUDIENCES}"
export SESSION_WEBHOOK_RETRY_SCHEDULE="${SESSION_WEBHOOK_RETRY_SCHEDULE:-1s,5s,15s,30s,1m}"

# The demo page runs on the JavaScript client: build it (clients/js/dist).
ensure_node
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build)
node infra/demo-server.mjs "$DEMO_PORT" &
STARTED_PIDS+=($!)
log "demo frontend on http://localhost:$DEMO_PORT (another origin: signs in with fetch + credentials)"
log "API on http://localhost:$API_PORT  (mint a login ticket: make token USER=alice)"
cargo lambda watch --disable-cors --invoke-address 127.0.0.1 --invoke-port "$API_PORT" &
STARTED_PIDS+=($!)
# Lifecycle events: the stream pump stands in for Lambda's event source mapping and invokes
# session-events under watch. Webhooks go where SESSION_WEBHOOK_URL (with
# SESSION_WEBHOOK_SECRET) in make dev's environment says; unset, events are only logged.
cargo build --quiet -p dev-tools --bin stream-pump
EVENTS_INVOKE_URL="http://127.0.0.1:$API_PORT/2015-03-31/functions/session-events/invocations" \
  target/debug/stream-pump &
STARTED_PIDS+=($!)
start_queue_pump "$API_PORT" "$STATE_DIR/queue-pump.log"
log "lifecycle events: table stream -> session-events${SESSION_WEBHOOK_URL:+ -> webhook queue -> session-webhooks -> $SESSION_WEBHOOK_URL} (records given up on: .dev/events-failed.jsonl; webhooks given up on: make replay-webhooks)"
wait -n "${STARTED_PIDS[@]}"
