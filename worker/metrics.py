"""Prometheus metrics and the health endpoint of the worker.

One HTTP port serves ``/metrics`` (Prometheus text format), ``/healthz`` (liveness: the worker loop has
ticked recently) and ``/readyz`` (readiness: the database and the queue answer). With ``--concurrency N`` the
supervisor serves the port and the N worker processes write their samples to ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode), so one scrape sees the whole fleet member.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

log = logging.getLogger(__name__)

_CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
_LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)

DOCUMENTS = Counter("intake_documents_total", "Documents stored, by status (processed, duplicate, failed)", ["status"])
OBJECTS = Counter(
    "intake_objects_total",
    "Source objects handled, by outcome (processed, duplicate, failed, skipped, retried, dead_lettered)",
    ["outcome"],
)
ERRORS = Counter("intake_errors_total", "Errors recorded, by stable error code", ["code"])
MESSAGES = Counter(
    "intake_messages_total", "Queue messages handled, by result (ack, release, dead, ignored)", ["result"]
)
STAGE_SECONDS = Histogram(
    "intake_stage_seconds",
    "Wall time per stage (fetch, read, derive, store, match, total)",
    ["stage"],
    buckets=_SECONDS_BUCKETS,
)
QUEUE_LAG = Histogram(
    "intake_queue_lag_seconds", "From a message being sent to a worker receiving it", buckets=_LAG_BUCKETS
)
FIELD_CONFIDENCE = Histogram(
    "intake_field_confidence", "Confidence of extracted fields", ["field"], buckets=_CONFIDENCE_BUCKETS
)
MATCH_CONFIDENCE = Histogram(
    "intake_match_confidence", "Confidence of the best proposal per re-match", ["band"], buckets=_CONFIDENCE_BUCKETS
)
REMATCHES = Counter(
    "intake_rematches_total",
    "Submissions (re)matched, by their best proposal's band; none = no candidate at all (a new record, or a "
    "registry gap: these go to the review app's exceptions list)",
    ["band"],
)
QUEUE_DEPTH = Gauge(
    "intake_queue_messages",
    "Messages in the queue by state (visible, in_flight, dead)",
    ["state"],
    multiprocess_mode="max",
)
LAST_TICK = Gauge(
    "intake_worker_last_tick_timestamp_seconds", "When a worker loop last made progress", multiprocess_mode="max"
)
BUSY = Gauge("intake_worker_busy", "1 while a worker is processing a message", multiprocess_mode="livesum")

_FIELD_LABELS = 64  # cap the label set: a bug that invents field names must not explode the series count
_seen_fields: set[str] = set()


def observe_document(doc: Any) -> None:
    """Field confidence histograms for one models.Document."""
    groups: list[tuple[str, dict[str, Any]]] = [("", doc.fields)]
    groups += [("owner.", owner) for owner in doc.owners]
    for prefix, fields in groups:
        for name, fv in fields.items():
            label = prefix + name
            if label not in _seen_fields:
                if len(_seen_fields) >= _FIELD_LABELS:
                    label = "other"
                else:
                    _seen_fields.add(label)
            FIELD_CONFIDENCE.labels(label).observe(float(fv.confidence))


def set_queue_depth(visible: int, in_flight: int, dead: int | None) -> None:
    QUEUE_DEPTH.labels("visible").set(visible)
    QUEUE_DEPTH.labels("in_flight").set(in_flight)
    if dead is not None:
        QUEUE_DEPTH.labels("dead").set(dead)


class Health:
    """Liveness from loop ticks; readiness from checks the caller registers (each returns True or raises)."""

    def __init__(self, stale_after_s: float = 300.0) -> None:
        self.stale_after_s = stale_after_s
        self.last_tick = time.time()
        self.checks: dict[str, Callable[[], bool]] = {}
        self.alive_check: Callable[[], bool] | None = None

    def tick(self) -> None:
        self.last_tick = time.time()
        LAST_TICK.set(self.last_tick)

    def alive(self) -> tuple[bool, dict[str, Any]]:
        age = time.time() - self.last_tick
        ok = age < self.stale_after_s
        if self.alive_check is not None:
            ok = ok and self.alive_check()
        return ok, {"last_tick_age_s": round(age, 1)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {}
        ok = True
        for name, check in self.checks.items():
            try:
                detail[name] = bool(check())
            except Exception as exc:
                detail[name] = f"{type(exc).__name__}: {exc}"[:200]
            ok = ok and detail[name] is True
        return ok, detail


def multiprocess_registry(path: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry = REGISTRY
    health: Health

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = generate_latest(self.registry)
            self._send(200, body, CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/livez", "/health"):
            ok, detail = self.health.alive()
            self._json(200 if ok else 503, {"status": "ok" if ok else "stale", **detail})
        elif path == "/readyz":
            ok, detail = self.health.ready()
            self._json(200 if ok else 503, {"status": "ready" if ok else "not_ready", **detail})
        else:
            self._send(404, b"not found\n", "text/plain")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes every 15 s would flood the log
        return


def serve(
    port: int, health: Health, *, registry: CollectorRegistry | None = None, host: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """Start the metrics/health server in a daemon thread; returns it (``.server_address`` has the port)."""
    handler = type("Handler", (_Handler,), {"registry": registry or REGISTRY, "health": health})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    log.info("metrics and health on :%d (/metrics, /healthz, /readyz)", server.server_address[1])
    return server


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def mark_process_dead(pid: int) -> None:
    """Let the multiprocess collector drop a dead worker's live gauges."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
