"""Webhook → queue relay, for S3-compatible stores that cannot publish to SQS themselves (MinIO: its
notification targets are webhooks, AMQP, Kafka, ... but not SQS).

MinIO's webhook target POSTs each event as JSON with an AWS-style ``Records`` array (plus ``EventName`` and
``Key`` at the top level); that body is exactly what the worker parses, so the relay checks it and sends it to
the work queue unchanged. It answers 200 only after the queue accepted the message, so MinIO's own retry
(and its persistent event queue, ``MINIO_NOTIFY_WEBHOOK_QUEUE_DIR``) covers a broker outage.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from worker.errors import IntakeError
from worker.intake.events import parse_body
from worker.intake.queues import Queue

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # SQS's message size limit


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _not_an_s3_event(body: str, bucket: str | None) -> str | None:
    """Why a POST is not something to relay: only S3 event notifications (and the test event) pass, never our
    own envelope (which may name a local file), and with a configured bucket only events of that bucket."""
    data = json.loads(body)
    if data.get("Event") == "s3:TestEvent":
        return None
    if "Records" not in data:
        return "only S3 event notifications are relayed"
    named = {str(((r.get("s3") or {}).get("bucket") or {}).get("name")) for r in data["Records"] if isinstance(r, dict)}
    if bucket and named - {bucket}:
        return f"event for bucket(s) {sorted(named - {bucket})}, not {bucket}"
    return None


def make_handler(queue: Queue, token: str | None, bucket: str | None = None) -> type[BaseHTTPRequestHandler]:
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
            if problem := _not_an_s3_event(body, bucket):
                log.warning("relay: refused a POST: %s", problem)
                self._reply(400, problem)
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
    queue: Queue, *, host: str = "127.0.0.1", port: int = 8081, token: str | None = None, bucket: str | None = None
) -> ThreadingHTTPServer:
    """Start the relay in a daemon thread and return the server (``server_address`` has the bound port).

    Anything that can reach the relay can put work on the queue, so it listens on loopback by default and
    refuses to listen anywhere else without a shared token (INTAKE_RELAY_TOKEN)."""
    if host not in LOOPBACK and not token:
        raise ValueError(
            f"the relay would accept unauthenticated events on {host}: set INTAKE_RELAY_TOKEN (and the same "
            "token as the webhook's Authorization: Bearer header in MinIO), or listen on 127.0.0.1"
        )
    server = ThreadingHTTPServer((host, port), make_handler(queue, token, bucket))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="relay-http", daemon=True).start()
    log.info("relay: POST S3 event notifications to http://%s:%d/ → %s", host, server.server_address[1], queue.name)
    return server
