#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from docs/openapi.yaml and checks
# every answer against it (no 5xx, status documented, body matches its schema, content type).
# Against a running stack: API_URL (default http://localhost:9000, i.e. `make dev`). It signs in
# with a dev login ticket (`token_in_body`) and sends the session token as the bearer credential;
# the generated calls include sign-out, so later ones also meet the documented 401s.
# `make test` runs it against its own stack (bounded by SCHEMATHESIS_EXAMPLES per operation).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

API_URL="${API_URL:-http://localhost:9000}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-40}"
command -v schemathesis >/dev/null 2>&1 || pip_install "schemathesis==4.32.5"
use_dev_auth_defaults
cd "$ROOT_DIR"

ticket="$(cargo run --quiet -p dev-tools --bin dev-token -- schemathesis --tenant acme)"
token="$(curl -fsS -X POST "$API_URL/sessions" -H "Authorization: Bearer $ticket" \
  -H 'Content-Type: application/json' -d '{"token_in_body": true}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"

run() { # phases mode
  log "schemathesis ($1, $2 inputs) against $API_URL, up to $EXAMPLES examples per operation"
  schemathesis run docs/openapi.yaml \
    --url "$API_URL" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance \
    --phases "$1" --mode "$2" \
    --max-examples "$EXAMPLES" \
    --seed 1 \
    --request-timeout 60 \
    --no-color \
    --report junit --report-dir "$STATE_DIR/schemathesis"
}
# Coverage (valid and schema-violating values, systematically) and stateful sequences.
run coverage,stateful all
# Random fuzzing with valid inputs only: its invalid ones include bodies that are not UTF-8,
# which `cargo lambda watch` itself answers with a 500 before any function runs (API Gateway
# base64-encodes them; the handlers answer 400, see the handler tests and make fuzz).
run examples,fuzzing positive
