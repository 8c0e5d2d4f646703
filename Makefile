# The two commands of the README. Everything else they need, they install.
.PHONY: dev test lint token bench fuzz schemathesis replay-webhooks package

dev: ## DynamoDB Local + all functions on http://localhost:9000 (Ctrl-C stops everything)
	bash infra/dev.sh

test: ## the whole test suite against DynamoDB Local (unit, handler, integration, end-to-end)
	bash infra/test.sh

bench: ## benchmarks against DynamoDB Local; rewrites docs/BENCHMARKS.md (not part of CI; BASELINE=<rev> adds that revision's validate cold start)
	BASELINE="$(BASELINE)" bash infra/bench.sh

fuzz: ## each fuzz target of shared/fuzz for FUZZ_SECONDS (60); crashes are kept as regression inputs
	bash infra/fuzz.sh

schemathesis: ## generated requests from docs/openapi.yaml against a running make dev (API_URL)
	bash infra/schemathesis.sh

package: ## sam build for ARCH (arm64 default, or x86_64), then every bootstrap checked: glibc of provided.al2023, zip within budget
	ARCH="$(ARCH)" bash infra/package.sh

lint: ## formatting, clippy, and the SAM template linters
	bash infra/lint.sh

token: ## mint a dev login ticket: make token USER=alice TENANT=acme
	@bash -c 'source infra/lib.sh && use_dev_auth_defaults && cargo run --quiet -p dev-tools --bin dev-token -- $(USER) $(if $(TENANT),--tenant $(TENANT))'

replay-webhooks: ## send the webhooks of the failure queue again, once each: make replay-webhooks QUEUE=<WebhookFailureQueueUrl> [TO=<url>] (secret: SESSION_WEBHOOK_SECRET or SESSION_WEBHOOK_SECRET_ARN)
	@cargo run --quiet -p dev-tools --bin webhook-replay -- $(if $(QUEUE),--queue $(QUEUE)) $(if $(TO),--to $(TO))
