"""`--enqueue`: one versioned BackfillMessage per object, sent with SendMessageBatch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from models.messages import BackfillMessage
from worker.intake.backfill.listing import SourceObject

SQS_BATCH = 10  # SendMessageBatch's hard limit


def backfill_messages(
    objects: Iterable[SourceObject], *, job_id: str, pipeline_version: str, force: bool = False
) -> Iterator[BackfillMessage]:
    for obj in objects:
        yield BackfillMessage(
            bucket=obj.bucket or None,
            key=obj.key,
            version_id=obj.version_id,
            etag=obj.etag,
            submission_id=obj.submission_id,
            pipeline_version=pipeline_version,
            force=force,
            job_id=job_id,
        )


def enqueue(
    messages: Iterable[BackfillMessage],
    sqs: Any,
    queue_url: str,
    *,
    progress: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    max_attempts: int = 5,
) -> int:
    """Send messages with SendMessageBatch, 10 per call; entries SQS reports as failed are retried with
    backoff (a throttled batch partially succeeds). Returns how many were sent."""
    sent = 0
    batch: list[BackfillMessage] = []

    def flush() -> None:
        nonlocal sent
        pending = {str(i): m for i, m in enumerate(batch)}
        for attempt in range(max_attempts):
            resp = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": i, "MessageBody": m.model_dump_json()} for i, m in pending.items()],
            )
            for ok in resp.get("Successful", []):
                pending.pop(ok["Id"], None)
                sent += 1
            failed = resp.get("Failed", [])
            if not pending:
                break
            if any(f.get("SenderFault") for f in failed):
                raise RuntimeError(f"SQS refused backfill messages: {failed[:3]}")
            time.sleep(min(5.0, 0.2 * 2**attempt))
        if pending:
            raise RuntimeError(f"SQS kept failing {len(pending)} backfill messages after {max_attempts} attempts")
        if progress:
            progress(len(batch))
        batch.clear()

    for message in messages:
        if stop is not None and stop.is_set():
            break
        batch.append(message)
        if len(batch) == SQS_BATCH:
            flush()
    if batch:
        flush()
    return sent


def enqueue_objects(
    objects: Sequence[SourceObject],
    sqs: Any,
    queue_url: str,
    *,
    job_id: str,
    pipeline_version: str,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    messages = backfill_messages(objects, job_id=job_id, pipeline_version=pipeline_version, force=force)
    return enqueue(messages, sqs, queue_url, progress=progress, stop=stop)
