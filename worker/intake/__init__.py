"""Intake stage: sources (S3 bucket or local inbox), queues (SQS or durable SQLite), and the worker loop.

Public API (a worker wired from settings is worker.wiring.build_worker / run_single: the composition root):
    Worker(settings, queue=..., processor=..., options=WorkerOptions(...)).run() -> WorkerStats
    run_supervisor(settings, concurrency=N, options=..., ...) -> exit code
    make_queue(settings) -> Queue                  SqsQueue when INTAKE_QUEUE_URL is set, else SqliteQueue
    make_store(settings) -> ObjectStore            S3Store when INTAKE_BUCKET is set, else InboxStore
    read_derived(image_key, settings) -> bytes     a derived (normalised page) image, for the review app
    parse_body(body) -> ParsedMessage              S3 events (incl. s3:TestEvent), SNS-wrapped, our envelope
    submission_for_key(key, prefix="") -> (submission_id, prefix)
    enqueue(settings, message) -> message id       send a QueueMessage/BackfillMessage envelope
    serve_relay(queue, port=...)                   webhook → queue relay for MinIO event notifications
"""

from __future__ import annotations

from models.messages import QueueMessage
from models.settings import Settings
from worker.intake.events import ParsedMessage, WorkItem, parse_body, submission_for_key
from worker.intake.loop import Worker, WorkerOptions, WorkerStats, run_supervisor
from worker.intake.queues import Message, Queue, QueueDepth, SqliteQueue, SqsQueue, make_queue
from worker.intake.relay import serve_relay
from worker.intake.sources import InboxStore, InboxWatcher, ObjectStore, S3Store, make_store, read_derived


def enqueue(settings: Settings, message: QueueMessage, *, queue: Queue | None = None) -> str:
    """Put one envelope (backfill, reprocess, rematch_submission) on the work queue."""
    return (queue or make_queue(settings)).send(message.model_dump_json())


__all__ = [
    "InboxStore",
    "InboxWatcher",
    "Message",
    "ObjectStore",
    "ParsedMessage",
    "Queue",
    "QueueDepth",
    "S3Store",
    "SqliteQueue",
    "SqsQueue",
    "WorkItem",
    "Worker",
    "WorkerOptions",
    "WorkerStats",
    "enqueue",
    "make_queue",
    "make_store",
    "parse_body",
    "read_derived",
    "run_supervisor",
    "serve_relay",
    "submission_for_key",
]
