#!/usr/bin/env python3
"""Every `curl` example of README.md, run as a reader would run it against the local stack.

Usage: readme_curl.py API_URL (http://localhost:PORT, the stack `make test` started; its
SESSION_ALLOWED_ORIGINS must allow that origin, as `make dev`'s public origin allows
http://localhost:9000).

Each ```sh block of the README that calls `curl ... localhost:9000` runs in bash, in README
order, with `localhost:9000` pointed at API_URL, in a scratch folder (its cookie jar), with
`make` run in the repository. What a reader brings to a block (a fresh login ticket, a session
in the jar, the id of another device) is set up before it, as below. Every curl call's status
is recorded and compared with the statuses the README says; a block that fails, a call that
does not answer, or an example that appears or goes away without its expectation here fails.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# What each block answers, call by call, keyed by a line the block contains; and whether the
# reader comes to it signed in (a session in `jar`, and another device's id in SESSION_ID).
EXPECTED = {
    "# 2. Sign in: 201": ([201, 200, 200, 204, 401], False),
    "# Every device the user is signed in on": ([200, 200, 204, 200, 200], True),
    "SESSION_PROFILES='": ([201], False),
    "# A token for another service": ([200, 200], True),
    "# A visitor's cart, before anyone signs in": ([201, 200, 201, 200], False),
}


def blocks():
    text = README.read_text()
    for match in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M):
        body = match.group(1)
        if "localhost:9000" in body and re.search(r"^curl ", body, re.M):
            yield body


def ticket(env):
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(ROOT), "token", "USER=alice", "TENANT=acme"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()


def sign_in(api, env, jar):
    """A session of alice, its cookie in `jar` (a Netscape cookie file, as curl writes it)."""
    subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-c", jar, "-H", "Content-Type: application/json",
         "-d", json.dumps({"id_token": ticket(env)}), f"{api}/sessions"],
        check=True,
    )


def session_id(api, jar):
    out = subprocess.run(
        ["curl", "-sS", "-f", "-b", jar, f"{api}/sessions/current"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["session_id"]


def main():
    api = sys.argv[1].rstrip("/")
    port = api.rsplit(":", 1)[1]
    env = dict(os.environ)
    found = list(blocks())
    seen = set()
    failures = 0
    for block in found:
        key = next((k for k in EXPECTED if k in block), None)
        if key is None:
            print(f"a curl example of the README has no expectation here:\n{block}")
            failures += 1
            continue
        seen.add(key)
        expected, signed_in = EXPECTED[key]
        with tempfile.TemporaryDirectory() as scratch:
            statuses = os.path.join(scratch, "statuses")
            block_env = dict(env, STATUS_LOG=statuses, TICKET=ticket(env))
            if signed_in:
                sign_in(api, env, os.path.join(scratch, "jar"))
                other = os.path.join(scratch, "other-device")
                sign_in(api, env, other)
                block_env["SESSION_ID"] = session_id(api, other)
            script = (
                "set -euo pipefail\n"
                # The reader's curl, recording each answer's status; the body is not needed.
                'curl() { local code; code=$(command curl -sS -o /dev/null -w "%{http_code}" "$@"); '
                'echo "$code" >> "$STATUS_LOG"; }\n'
                f'make() {{ command make --no-print-directory -C "{ROOT}" "$@"; }}\n'
                + block.replace("localhost:9000", f"localhost:{port}")
            )
            run = subprocess.run(["bash", "-c", script], cwd=scratch, env=block_env,
                                 capture_output=True, text=True, timeout=300)
            got = [int(line) for line in pathlib.Path(statuses).read_text().split()] if os.path.exists(statuses) else []
            if run.returncode != 0 or got != expected:
                print(f"README example {key!r}: statuses {got}, expected {expected}; "
                      f"exit {run.returncode}\n{run.stderr}")
                failures += 1
            else:
                print(f"README example {key!r}: {got}")
    for key in EXPECTED.keys() - seen:
        print(f"the README no longer has the example {key!r}")
        failures += 1
    total = len(found)
    print(f"{total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
