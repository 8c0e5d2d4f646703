#!/usr/bin/env bash
# `make test`: the whole suite on real parts. Installs what is missing, starts DynamoDB Local on
# a free port (unless AWS_ENDPOINT_URL_DYNAMODB is given), runs unit, handler and integration
# tests, then the end-to-end test over HTTP against `cargo lambda watch`, and stops what it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_java
ensure_dynamodb_local
ensure_cargo_lambda
ensure_chromium
ensure_node
ensure_moto
ensure_sam_cli # the SAM translator for the stack test (tests/tests/stack.rs)
ensure_standardwebhooks
command -v curl >/dev/null 2>&1 || apt_install curl
trap stop_started EXIT
trap 'exit 130' INT TERM
set -m # every started process leads its own process group, so stop_started ends it whole

if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  port="$(free_port)"
  start_dynamodb "$port"
  # The browser test of the JavaScript client freezes it for a moment (SIGSTOP / SIGCONT).
  export DYNAMODB_PID="${STARTED_PIDS[0]}"
  use_local_aws "http://127.0.0.1:$port"
else
  log "using DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB"
  use_local_aws "$AWS_ENDPOINT_URL_DYNAMODB"
fi
use_dev_auth_defaults
cd "$ROOT_DIR"
# A local Secrets Manager for the tests that read the ticket secret by its ARN.
moto_port="$(free_port)"
start_moto "$moto_port"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
# ... and EventBridge with SQS, for the lifecycle events' bus destination.
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
# ... and KMS, whose ECC keys really sign: session tokens for other services.
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$moto_port"
# The fault tests start (and stop) a DynamoDB Local of their own.
export DYNAMODB_LOCAL_JAR="$(dynamodb_jar)"

# Every status a test sees is logged; the last step checks them against docs/openapi.yaml.
export SESSION_STATUS_LOG="$STATE_DIR/statuses.log"
rm -f "$SESSION_STATUS_LOG"

log "clients/js: generated types match docs/openapi.yaml, strict TypeScript build, unit tests"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent check-types && npm test)

log "unit, handler and integration tests"
# The function binaries first: the `lambda` bench's smoke run starts each under a Runtime API,
# and `cargo lambda watch` (below) runs them. Built as the function packages alone, so their
# features are the ones `cargo run --bin <function>` (what watch runs) resolves: nothing is
# rebuilt on the first request.
# session-events and session-webhooks, and session-token, on their own (function_packages says why).
mapfile -t functions < <(function_packages)
cargo build --quiet "${functions[@]}"
cargo build --quiet -p session-events -p session-webhooks
cargo build --quiet -p session-token
cargo test --workspace --all-targets

log "end-to-end: the functions behind cargo lambda watch, over HTTP"
api_port="$(free_port)"
export SESSION_TABLE_NAME="e2e-$(date +%s)-$RANDOM"
demo_port="$(free_port)"
# The one-host front of the guards test (the API and an Express app behind one origin).
front_port="$(free_port)"
express_port="$(free_port)"
# The Rust e2e test's frontend origin, the demo page's (the browser test), the one-host front's,
# and the API itself as `localhost`: the origin the README's curl examples send.
export SESSION_ALLOWED_ORIGINS="http://localhost:9001,http://localhost:$demo_port,http://localhost:$front_port,http://localhost:$api_port"
export SESSION_PUBLIC_ORIGIN="http://127.0.0.1:$api_port"
export SESSION_PROFILES="$DEV_SESSION_PROFILES"
cargo run --quiet -p dev-tools --bin create-table
# Session tokens for other services: a signing key of the run's own on moto's KMS, make dev's
# audience.
eval "$(cargo run --quiet -p dev-tools --bin create-token-key "alias/$SESSION_TABLE_NAME")"
export SESSION_TOKEN_AUDIENCES="$DEV_SESSION_TOKEN_AUDIENCES"
# The lifecycle-events pipeline as make dev runs it: the stream pump feeds session-events under
# watch, which queues webhooks on moto; the queue pump feeds session-webhooks, which posts them
# signed to a receiver that verifies them with standardwebhooks.
webhook_port="$(free_port)"
export E2E_WEBHOOK_LOG="$STATE_DIR/webhooks.jsonl"
rm -f "$E2E_WEBHOOK_LOG"
export SESSION_WEBHOOK_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export SESSION_WEBHOOK_URL="http://127.0.0.1:$webhook_port/hooks/sessions"
WEBHOOK_SECRET="$SESSION_WEBHOOK_SECRET" python3 infra/webhook-receiver.py "$webhook_port" "$E2E_WEBHOOK_LOG" \
  >"$STATE_DIR/webhook-receiver.log" 2>&1 &
STARTED_PIDS+=($!)
create_webhook_queues "$SESSION_TABLE_NAME"
export SESSION_WEBHOOK_RETRY_SCHEDULE="1s,2s,5s"
cargo build --quiet -p dev-tools --bin stream-pump
start_queue_pump "$api_port" "$STATE_DIR/queue-pump.log"
EVENTS_INVOKE_URL="http://127.0.0.1:$api_port/2015-03-31/functions/session-events/invocations" \
  STREAM_PUMP_FAILED="$STATE_DIR/events-failed.jsonl" \
  target/debug/stream-pump >"$STATE_DIR/stream-pump.log" 2>&1 &
STARTED_PIDS+=($!)
cargo lambda watch --ignore-changes --disable-cors --invoke-address 127.0.0.1 --invoke-port "$api_port" \
  >"$STATE_DIR/e2e-watch.log" 2>&1 &
STARTED_PIDS+=($!)
wait_for_port "$api_port" 120 "cargo lambda watch" || { cat "$STATE_DIR/e2e-watch.log" >&2; exit 1; }
# One request per function first: watch starts (and, if it must, compiles) each on its first
# request, which must not eat the tests' time budgets. Any answer will do.
for route in "GET /sessions/current" "POST /sessions" "POST /sessions/current/refresh" \
  "DELETE /sessions/current" "GET /sessions" "DELETE /admin/users/warm-up/sessions" "GET /example/whoami" \
  "GET /.well-known/jwks.json"; do
  curl -s -o /dev/null -m 600 -X "${route%% *}" "http://127.0.0.1:$api_port${route#* }" || true
done
# Includes the bounded load test (LOAD_CLIENTS, LOAD_SECONDS), whose requests/s it prints.
E2E_BASE_URL="http://127.0.0.1:$api_port" cargo test -p session-tests --features e2e --test e2e -- --show-output \
  || { log "cargo lambda watch log:"; tail -n 50 "$STATE_DIR/e2e-watch.log" >&2; exit 1; }

log "browser: the demo page (another origin) in headless Chromium, driven by playwright-core"
node infra/demo-server.mjs "$demo_port" >"$STATE_DIR/demo-server.log" 2>&1 &
STARTED_PIDS+=($!)
wait_for_port "$demo_port" 20 "the demo server" || { cat "$STATE_DIR/demo-server.log" >&2; exit 1; }
DEMO_URL="http://localhost:$demo_port" API_URL="http://localhost:$api_port" \
  SCREENSHOT="$STATE_DIR/artifacts/demo.png" node tests/browser/demo.mjs

log "browser: the JavaScript client (clients/js) in tabs of headless Chromium, against the stack"
DEMO_URL="http://localhost:$demo_port" API_URL="http://localhost:$api_port" node tests/browser/sdk.mjs

log "the client's server guards (Express middleware, Web Request handler, the README's examples behind a one-host rewrite) against the stack"
ORIGIN="http://localhost:$demo_port" API_URL="http://localhost:$api_port" FRONT_PORT="$front_port" \
  EXPRESS_PORT="$express_port" node tests/node/guards.mjs

log "session tokens for other services: minted by the stack, verified by jose and verifySessionToken"
API_URL="http://localhost:$api_port" node tests/node/tokens.mjs

log "migrating signed-in users: the guards' migrate option with express-session, iron-session, a JWT cookie and a who-am-i backend, against the stack"
API_URL="http://localhost:$api_port" node tests/node/migration.mjs

log "the npm package: packed, installed from its tarball into a project of its own, used against the stack"
API_URL="http://localhost:$api_port" bash infra/package-test.sh

log "README: every curl example, in order, against the stack"
python3 tests/readme_curl.py "http://localhost:$api_port"

log "schemathesis: generated requests against docs/openapi.yaml"
API_URL="http://localhost:$api_port" SCHEMATHESIS_EXAMPLES=20 bash infra/schemathesis.sh

log "the event pipeline: every batch delivered, every webhook verified"
# The stream pump's failure destination and the receiver's log: a record given up on, or a
# webhook the receiver could not verify, fails the run (the end-to-end test only counts events).
if [ -s "$STATE_DIR/events-failed.jsonl" ]; then
  log "records given up on by the stream pump:"; cat "$STATE_DIR/events-failed.jsonl" >&2; exit 1
fi
if [ ! -s "$E2E_WEBHOOK_LOG" ] || grep -q '"verified": false' "$E2E_WEBHOOK_LOG"; then
  log "no webhook received, or one the receiver could not verify:"; grep -m5 '"verified": false' "$E2E_WEBHOOK_LOG" >&2 || true; exit 1
fi
# Nothing given up on: the README's replay command finds the failure queue empty.
replayed="$(make --no-print-directory replay-webhooks QUEUE="$SESSION_WEBHOOK_FAILURE_QUEUE_URL")"
echo "$replayed"
case "$replayed" in
  "replayed 0 webhooks; 0 failed again, 0 held behind them; 0 left in"*) ;;
  *) log "webhooks were given up on:"; tail -n 20 "$STATE_DIR/queue-pump.log" >&2; exit 1 ;;
esac

log "the OpenAPI contract: every documented status was produced by some test"
cargo run --quiet -p session-tests --bin documented-statuses -- "$SESSION_STATUS_LOG"
