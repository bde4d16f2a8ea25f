"""Queue messages: our own versioned envelope, and the S3 event notification we accept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import uuid4

from pydantic import BaseModel, Field

ENVELOPE_VERSION = 1


class QueueMessage(BaseModel):
    """Our envelope. `kind` says what to do; `version` lets old workers refuse messages they don't know."""

    version: int = ENVELOPE_VERSION
    kind: Literal["process_object", "backfill", "reprocess", "rematch_submission"] = "process_object"
    message_id: str = Field(default_factory=lambda: uuid4().hex)
    bucket: str | None = None  # None for the local inbox
    key: str  # object key, or path relative to the inbox
    version_id: str | None = None
    etag: str | None = None
    submission_id: str | None = None
    pipeline_version: str | None = None
    force: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class BackfillMessage(QueueMessage):
    kind: Literal["process_object", "backfill", "reprocess", "rematch_submission"] = "backfill"
    job_id: str | None = None


class S3EventRecord(BaseModel):
    """The part of an S3 ObjectCreated notification record we use (keys arrive URL-encoded)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    event_name: str = "ObjectCreated:Put"
