"""Webhook → queue relay, for S3-compatible stores that cannot publish to SQS themselves (MinIO: its
notification targets are webhooks, AMQP, Kafka, ... but not SQS).

MinIO's webhook target POSTs each event as JSON with an AWS-style ``Records`` array (plus ``EventName`` and
``Key`` at the top level); that body is exactly what the worker parses, so the relay checks it and sends it to
the work queue unchanged. It answers 200 only after the queue accepted the message, so MinIO's own retry
(and its persistent event queue, ``MINIO_NOTIFY_WEBHOOK_QUEUE_DIR``) covers a broker outage.
"""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from worker.errors import IntakeError
from worker.intake.events import parse_body
from worker.intake.queues import Queue

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # SQS's message size limit


def make_handler(queue: Queue, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # health checks (and MinIO's reachability probe)
            self._reply(200, "ok")

        do_HEAD = do_GET

        def do_POST(self) -> None:
            if token and not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
                self._reply(401, "unauthorised")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._reply(413 if length > MAX_BODY else 400, "body required (at most 1 MiB)")
                return
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            parsed = parse_body(body)
            if parsed.error:
                self._reply(400, parsed.error)
                return
            if not parsed.items and not parsed.test_event:
                self._reply(200, "nothing to do")  # e.g. a deletion event: accepted, not queued
                return
            try:
                message_id = queue.send(body)
            except IntakeError as exc:
                log.warning("relay: queue unavailable: %s", exc)
                self._reply(503, "queue unavailable")
                return
            self._reply(200, message_id)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("relay: " + format, *args)

    return Handler


def serve_relay(
    queue: Queue, *, host: str = "0.0.0.0", port: int = 8081, token: str | None = None
) -> ThreadingHTTPServer:
    """Start the relay in a daemon thread and return the server (``server_address`` has the bound port)."""
    server = ThreadingHTTPServer((host, port), make_handler(queue, token))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="relay-http", daemon=True).start()
    log.info("relay: POST S3 event notifications to http://%s:%d/ → %s", host, server.server_address[1], queue.name)
    return server
