"""What a queue message asks for: S3 event notifications and our own versioned envelope, parsed into work items.

Accepted bodies:
- S3 event notifications (``{"Records": [...]}``), also wrapped in an SNS notification (``{"Type":
  "Notification", "Message": "<json>"}``); keys arrive URL-encoded (``+`` for space), ``ObjectCreated:*``
  records become work, anything else (deletions, replication) is ignored;
- the ``s3:TestEvent`` S3 sends when a notification is configured: nothing to do, acknowledged;
- ``models.messages.QueueMessage`` / ``BackfillMessage`` JSON (backfill, re-process, re-match jobs). A newer
  envelope version than this worker knows is refused (left for a newer worker), never guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

from pydantic import ValidationError

from models.messages import ENVELOPE_VERSION, QueueMessage
from worker.store.submissions import object_job_id, object_version


@dataclass(frozen=True)
class WorkItem:
    """One thing to do: process an object (kind process_object/backfill/reprocess) or re-match a submission."""

    kind: str
    key: str
    bucket: str | None = None  # None: the local inbox
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    submission_id: str | None = None
    force: bool = False
    pipeline_version: str | None = None
    message_id: str | None = None
    backfill_id: str | None = None
    event_time: str | None = None

    @property
    def version(self) -> str:
        return object_version(version_id=self.version_id, etag=self.etag)

    @property
    def job_id(self) -> str:
        # one job row per object version, so redeliveries and redrives count attempts on the same row;
        # forced re-processing and re-matching are their own jobs
        if self.kind in ("reprocess", "rematch_submission") or self.force:
            return (self.message_id or object_job_id(self.bucket, self.key, self.kind))[:64]
        return object_job_id(self.bucket, self.key, self.version)

    @property
    def display(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key


@dataclass
class ParsedMessage:
    items: list[WorkItem] = field(default_factory=list)
    test_event: bool = False
    ignored: list[str] = field(default_factory=list)  # records skipped on purpose, with why
    error: str | None = None  # the body is not something we understand: dead-letter it
    newer_version: int | None = None  # an envelope from the future: leave it for a newer worker


def submission_for_key(key: str, prefix: str = "") -> tuple[str, str]:
    """(submission id, submission prefix) for an object key: the first path component under ``prefix`` is the
    submission (every file below it belongs to it); a file directly under the prefix is a submission alone.
    The same rule as the backfill command and `intake process DIR`."""
    rel = key[len(prefix) :] if prefix and key.startswith(prefix) else key
    parts = PurePosixPath(rel).parts
    if len(parts) > 1:
        return parts[0], f"{prefix}{parts[0]}/"
    return PurePosixPath(rel).stem or rel, prefix


def ignore_reason(key: str, *, derived_prefix: str = "") -> str | None:
    """Why a key is not a scan to read (a folder marker, a hidden file, our own derived output), or None.
    Anything else is read, and a file of an unknown type is recorded as unsupported_format: a clerk's wrong
    upload must show up in the submission's errors, not vanish."""
    if not key or key.endswith("/"):
        return "folder marker"
    if derived_prefix and key.startswith(derived_prefix):
        return "derived image"
    if any(part.startswith(".") for part in PurePosixPath(key).parts):
        return "hidden file"
    return None


def parse_body(body: str, *, message_id: str | None = None) -> ParsedMessage:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ParsedMessage(error=f"not JSON: {exc}")
    if not isinstance(data, dict):
        return ParsedMessage(error="not a JSON object")
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        return parse_body(data["Message"], message_id=message_id)  # delivered through SNS
    if data.get("Event") == "s3:TestEvent":
        return ParsedMessage(test_event=True)
    if "Records" in data:
        return _parse_s3_records(data["Records"])
    if "version" in data and "key" in data:
        return _parse_envelope(data, message_id)
    return ParsedMessage(error=f"unknown message shape (keys: {sorted(data)[:8]})")


def _parse_s3_records(records: Any) -> ParsedMessage:
    parsed = ParsedMessage()
    if not isinstance(records, list):
        parsed.error = "Records is not a list"
        return parsed
    for record in records:
        try:
            name = str(record.get("eventName", "")).removeprefix("s3:")  # MinIO writes "s3:ObjectCreated:Put"
            s3 = record["s3"]
            bucket = s3["bucket"]["name"]
            obj = s3["object"]
            key = unquote_plus(obj["key"])
        except (KeyError, TypeError, AttributeError) as exc:
            parsed.error = f"malformed S3 event record: missing {exc}"
            return parsed
        if not name.startswith("ObjectCreated"):
            parsed.ignored.append(f"{name} s3://{bucket}/{key}")
            continue
        etag = obj.get("eTag") or obj.get("etag")
        parsed.items.append(
            WorkItem(
                kind="process_object",
                bucket=bucket,
                key=key,
                version_id=obj.get("versionId") or None,
                etag=etag.strip('"') if etag else None,
                size=obj.get("size"),
                event_time=record.get("eventTime"),
            )
        )
    return parsed


def _parse_envelope(data: dict[str, Any], message_id: str | None) -> ParsedMessage:
    version = data.get("version")
    if isinstance(version, int) and version > ENVELOPE_VERSION:
        return ParsedMessage(newer_version=version)
    try:
        msg = QueueMessage.model_validate(data)
    except ValidationError as exc:
        return ParsedMessage(error=f"invalid envelope: {exc.error_count()} error(s): {exc.errors()[0]['msg']}")
    return ParsedMessage(
        items=[
            WorkItem(
                kind=msg.kind,
                bucket=msg.bucket or None,
                key=msg.key,
                version_id=msg.version_id,
                etag=msg.etag.strip('"') if msg.etag else None,
                submission_id=msg.submission_id,
                force=msg.force or msg.kind == "reprocess",
                pipeline_version=msg.pipeline_version,
                message_id=msg.message_id or message_id,
                backfill_id=data.get("job_id"),
            )
        ]
    )
