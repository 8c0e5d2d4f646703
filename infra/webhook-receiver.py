"""A webhook receiver for local runs: verifies each delivery's Standard Webhooks signature with
the `standardwebhooks` package (an implementation independent of ours) and appends it to a
JSON-lines log. Answers 204 when verified, 401 when not.

Usage: WEBHOOK_SECRET=whsec_... python3 infra/webhook-receiver.py PORT LOG_FILE
With `make dev`: SESSION_WEBHOOK_URL=http://127.0.0.1:PORT/ SESSION_WEBHOOK_SECRET=whsec_... make dev
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT = int(sys.argv[1])
LOG = sys.argv[2]
HOOK = Webhook(os.environ["WEBHOOK_SECRET"])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            HOOK.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        with open(LOG, "a", encoding="utf-8") as log:
            entry = {"verified": verified, "webhook_id": headers.get("webhook-id"), "event": json.loads(body)}
            log.write(json.dumps(entry) + "\n")
        self.send_response(204 if verified else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Receiver).serve_forever()
