"""An agency's webhook endpoint, as its own process, for the webhook tests:
every request is verified with the `standardwebhooks` package (the reference
implementation, not Homeward's code); a verified one is recorded as a JSON
line {"id", "timestamp", "body", "received_at"} and fsynced BEFORE the 2xx is sent, so a
SIGKILL never loses a delivery it acknowledged. A request that fails
verification is answered 401 and recorded as {"invalid": reason}.

With --kill-after N it SIGKILLs itself right after recording the N-th
delivery and before answering it: the worst moment for a receiver to die
(it has the delivery; the sender does not know), so the sender must send it
again and the copy must carry the same webhook-id and body.

    python tests/integration/webhook_receiver.py --port P --secret whsec_... --out FILE [--kill-after N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", required=True, help="one whsec_ secret this endpoint verifies with")
    p.add_argument("--out", required=True)
    p.add_argument("--kill-after", type=int, default=0)
    args = p.parse_args()
    taken = [0]
    webhook = Webhook(args.secret)
    lock = threading.Lock()
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    def record(line: dict[str, object]) -> None:
        with lock:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the stdlib names it so
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            try:
                webhook.verify(body, headers)
            except (WebhookVerificationError, ValueError) as exc:
                record({"invalid": str(exc)})
                status = 401
            else:
                record(
                    {
                        "id": headers.get("webhook-id"),
                        "timestamp": headers.get("webhook-timestamp"),
                        "body": body.decode("utf-8"),
                        "received_at": time.time(),  # for latency figures
                    }
                )
                status = 204
                with lock:
                    taken[0] += 1
                    if taken[0] == args.kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("RECEIVER_READY", args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
