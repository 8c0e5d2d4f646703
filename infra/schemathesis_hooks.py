"""Schemathesis hooks for infra/schemathesis.sh, and the check it runs after schemathesis.

- Every generated call gets a session of its own, signed in just before it (a fresh user
  each time), so a call that ends sessions (DELETE /sessions, DELETE /sessions/current) never
  leaves the calls after it with nothing but 401s. POST /sessions gets a fresh login ticket
  instead (minted here with the dev secret, as `make token` does). Every other call of
  DELETE /sessions/{session_id} names that session's own id (the others keep the generated
  one: an unknown id, 404).
- Every answer is logged as `METHOD /path/template status` (SCHEMATHESIS_STATUS_LOG).
- `python3 infra/schemathesis_hooks.py check LOG` fails unless every operation of
  docs/openapi.yaml answered a 2xx at least once; the IAM-only operations cannot locally (no
  IAM in front of `cargo lambda watch`) and must have answered their 403 instead, and the
  operations without any credential (`security: []`: the identity provider's back-channel
  logout, whose only proof is a token signed by a provider `make dev` does not configure)
  their 400. tests/tests/backchannel.rs signs real logout tokens for that route.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request
import uuid


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def login_ticket(user: str) -> str:
    """An HS256 login ticket for `user`, valid five minutes (the AUTH_JWT_* of make dev)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(
        json.dumps(
            {
                "sub": user,
                "iss": os.environ["AUTH_JWT_ISSUER"],
                "aud": os.environ["AUTH_JWT_AUDIENCE"],
                "iat": now,
                "nbf": now,
                "exp": now + 300,
                "jti": uuid.uuid4().hex,
                "tenant_id": "acme",
            }
        ).encode()
    )
    secret = os.environ["AUTH_JWT_HS256_SECRET"].encode()
    signature = hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


def fresh_session() -> dict:
    """A new session of a new user: its JSON, with the bearer `token`."""
    request = urllib.request.Request(
        os.environ["API_URL"] + "/sessions",
        data=b'{"token_in_body": true}',
        method="POST",
        headers={
            "Authorization": "Bearer " + login_ticket(f"st-{uuid.uuid4().hex[:12]}"),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def is_sign_in(method: str, path: str) -> bool:
    return method.upper() == "POST" and path == "/sessions"


if __name__ != "__main__":
    import schemathesis

    revoke_own = [False]

    @schemathesis.auth(refresh_interval=None)
    class FreshSession:
        """A new credential for every call (no caching)."""

        def get(self, case, context):
            if is_sign_in(case.method, case.path):
                return {"token": login_ticket(f"st-{uuid.uuid4().hex[:12]}")}
            return fresh_session()

        def set(self, case, data, context):
            headers = dict(case.headers or {})
            headers["Authorization"] = f"Bearer {data['token']}"
            case.headers = headers
            if case.method.upper() == "POST" and case.path == "/sessions/current/reauth":
                # Re-authentication needs a fresh identity token of the session's own user,
                # which no generator can guess: give it one.
                case.body = {"id_token": login_ticket(data["user_id"])}
            if case.method.upper() == "DELETE" and case.path == "/sessions/{session_id}":
                revoke_own[0] = not revoke_own[0]
                if revoke_own[0]:
                    case.path_parameters = {
                        **(case.path_parameters or {}),
                        "session_id": data["session_id"],
                    }

    @schemathesis.hook
    def after_call(context, case, response):
        with open(os.environ["SCHEMATHESIS_STATUS_LOG"], "a") as log:
            log.write(f"{case.method.upper()} {case.path} {response.status_code}\n")


def check(log_path: str, spec_path: str) -> int:
    import yaml

    with open(spec_path) as spec_file:
        spec = yaml.safe_load(spec_file)
    seen = {}
    with open(log_path) as log:
        for line in log:
            method, path, status = line.split()
            seen.setdefault((method, path), set()).add(int(status))
    failures = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = seen.get((method.upper(), path), set())
            iam_only = operation.get("security") == [{"awsIam": []}]
            # No session credential, but a signed token in the body (the identity provider's
            # back-channel logout); a public operation without a body (the token key set) must
            # answer a 2xx like the others.
            provider_signed = operation.get("security") == [] and "requestBody" in operation
            if iam_only:
                if 403 not in statuses:
                    failures.append(f"{method.upper()} {path}: never refused (403) without IAM")
            elif provider_signed:
                if 400 not in statuses:
                    failures.append(
                        f"{method.upper()} {path}: never refused (400) an unsigned token"
                    )
            elif not any(200 <= s < 300 for s in statuses):
                failures.append(
                    f"{method.upper()} {path}: no 2xx in {len(statuses)} distinct statuses "
                    f"{sorted(statuses)}"
                )
    if failures:
        print("schemathesis: operations that never succeeded:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(
        "schemathesis: every operation answered a 2xx (the IAM-only ones their 403, the "
        "provider-signed one its 400); "
        f"{len(seen)} distinct method and path pairs answered"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        print("usage: schemathesis_hooks.py check LOG docs/openapi.yaml", file=sys.stderr)
        sys.exit(2)
    sys.exit(check(sys.argv[2], sys.argv[3]))
