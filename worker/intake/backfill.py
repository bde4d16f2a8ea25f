"""Backfill: push a whole archive of historical scans through the pipeline, resumably.

SOURCE is a local directory, ``s3://bucket/prefix``, or an S3 Inventory ``manifest.json`` (local path or
``s3://``; CSV inventory files, gzip or not). Files are grouped into submissions exactly as live intake
groups them: the first path component under the prefix is the submission; a file directly under the prefix
is a submission on its own.

Two ways to run it:
- locally, with N worker processes: each process builds the matcher once (initializer), runs Tesseract
  single-threaded, and processes whole submissions so one submission's files never race each other;
- ``--enqueue``: one versioned BackfillMessage per object, sent with SendMessageBatch (10 per call), for a
  worker fleet to consume.

Resume: the results database is the state. An object already processed (same key and etag for S3, same
sha256 for local files) is skipped; ``--reprocess`` only skips objects already processed by the current
pipeline version. Ctrl-C stops submitting work, lets in-flight submissions finish and prints the report;
a second Ctrl-C abandons in-flight work (it is simply redone on the next run).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import resource
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote_plus, urlparse

import click

from models.messages import BackfillMessage
from models.settings import Settings, get_settings
from worker.intake.events import ignore_reason, submission_for_key

SQS_BATCH = 10  # SendMessageBatch's hard limit


# ------------------------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One file to process. Slots keep a million of them in ~250 MB rather than ~600 MB."""

    bucket: str  # "" for a local file
    key: str  # S3 key, or the path relative to the SOURCE directory (like inbox keys)
    submission_id: str
    size: int | None = None
    etag: str | None = None  # S3 ETag without quotes
    version_id: str | None = None

    @property
    def is_local(self) -> bool:
        return not self.bucket

    @property
    def display(self) -> str:
        return self.key if self.is_local else f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Source:
    kind: str  # "local" | "s3" | "manifest"
    bucket: str = ""
    prefix: str = ""
    path: Path | None = None  # local directory, or local manifest file
    manifest_key: str | None = None  # manifest in S3


def parse_source(source: str, prefix: str = "") -> Source:
    """Classify SOURCE. ``prefix`` restricts (and anchors the grouping of) an inventory manifest's keys."""
    if source.startswith("s3://"):
        url = urlparse(source)
        key = url.path.lstrip("/")
        if key.endswith("manifest.json"):
            return Source("manifest", bucket=url.netloc, prefix=_dir_prefix(prefix), manifest_key=key)
        return Source("s3", bucket=url.netloc, prefix=_dir_prefix(key))
    path = Path(source)
    if path.is_file() and path.name.endswith("manifest.json"):
        return Source("manifest", prefix=_dir_prefix(prefix), path=path)
    if path.is_dir():
        return Source("local", path=path.resolve())
    raise click.BadParameter(f"{source}: not a directory, an s3://bucket/prefix or a manifest.json")


def _dir_prefix(prefix: str) -> str:
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _group(key: str, prefix: str) -> str | None:
    """The submission a key belongs to, or None when live intake would not read it either."""
    rel = key[len(prefix) :]
    if not rel or ignore_reason(rel):
        return None
    # interned: a million objects share a quarter of a million submission ids
    return sys.intern(submission_for_key(key, prefix)[0])


def list_objects(source: Source, *, s3: Any = None) -> Iterator[SourceObject]:
    """Every scan under SOURCE, in a stable order (sorted for local directories, key order for S3)."""
    if source.kind == "local":
        assert source.path is not None
        yield from _list_local(source.path)
    elif source.kind == "s3":
        yield from _list_s3(s3 or _client("s3"), source.bucket, source.prefix)
    else:
        yield from _list_manifest(source, s3)


def _list_local(root: Path) -> Iterator[SourceObject]:
    # os.walk with sorted names: rglob would stat every file twice and order differs between filesystems
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if (submission := _group(rel, "")) is not None:
                yield SourceObject("", rel, submission, size=path.stat().st_size)


def _list_s3(s3: Any, bucket: str, prefix: str, *, page_size: int = 1000) -> Iterator[SourceObject]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if (submission := _group(key, prefix)) is not None:
                yield SourceObject(bucket, key, submission, obj.get("Size"), _etag(obj.get("ETag")))


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _list_manifest(source: Source, s3: Any) -> Iterator[SourceObject]:
    """S3 Inventory: manifest.json names CSV files (gzip) whose columns are given by fileSchema."""
    if source.path is not None:
        manifest = json.loads(source.path.read_text())
    else:
        s3 = s3 or _client("s3")
        manifest = json.loads(s3.get_object(Bucket=source.bucket, Key=source.manifest_key)["Body"].read())
    if manifest.get("fileFormat", "CSV").upper() != "CSV":
        raise click.BadParameter(f"inventory format {manifest.get('fileFormat')!r}: only CSV inventories are read")
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    dest_bucket = manifest.get("destinationBucket", "").split(":::")[-1] or source.bucket
    for entry in manifest.get("files", []):
        raw = _read_inventory_file(entry["key"], source, dest_bucket, s3)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        for row in csv.reader(io.StringIO(raw.decode("utf-8"))):
            rec = dict(zip(columns, row, strict=False))
            if rec.get("IsDeleteMarker", "false").lower() == "true" or rec.get("IsLatest", "true").lower() == "false":
                continue
            key = unquote_plus(rec["Key"])  # inventory CSVs URL-encode keys
            if not key.startswith(source.prefix) or (submission := _group(key, source.prefix)) is None:
                continue
            size = rec.get("Size")
            yield SourceObject(
                rec.get("Bucket") or manifest.get("sourceBucket", ""),
                key,
                submission,
                int(size) if size else None,
                _etag(rec.get("ETag")) or None,
                rec.get("VersionId") or None,
            )


def _read_inventory_file(key: str, source: Source, dest_bucket: str, s3: Any) -> bytes:
    if source.path is not None:
        # a manifest downloaded with its data files (`aws s3 sync` of the inventory configuration keeps
        # <config>/<date>/manifest.json next to <config>/data/): look there before asking S3
        here, name = source.path.parent, PurePosixPath(key).name
        for candidate in (here / key, here / name, here / "data" / name, here.parent / "data" / name):
            if candidate.is_file():
                return candidate.read_bytes()
    s3 = s3 or _client("s3")
    return bytes(s3.get_object(Bucket=dest_bucket, Key=key)["Body"].read())


def _client(service: str) -> Any:
    import boto3

    # AWS_ENDPOINT_URL (moto, MinIO, LocalStack) is honoured by boto3 itself
    return boto3.client(service)


def group_submissions(objects: Iterable[SourceObject]) -> dict[str, list[SourceObject]]:
    groups: dict[str, list[SourceObject]] = defaultdict(list)
    for obj in objects:
        groups[obj.submission_id].append(obj)
    return dict(groups)


# -------------------------------------------------------------------------------------------- resume


def local_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan(
    objects: Sequence[SourceObject],
    engine: Any,
    *,
    pipeline_version: str,
    reprocess: bool = False,
    root: Path | None = None,
    chunk: int = 500,
) -> tuple[list[SourceObject], list[SourceObject]]:
    """Split objects into (to do, already done), with the queue worker's identity rules
    (worker.store.submissions.object_version / is_object_done), batched: one query per ``chunk`` keys
    instead of one per object keeps resuming a million-object archive a matter of seconds.

    Done = a stored row for the same key, in a final status, for the same content (S3: version id or ETag;
    local: the file's sha256, hashed only when such a row of the same size exists); with ``reprocess`` the
    row must also come from ``pipeline_version``."""
    from sqlalchemy import select, tuple_

    from worker.store.results import SourceObjectRow
    from worker.store.submissions import DONE_STATUSES, object_version

    todo: list[SourceObject] = []
    done: list[SourceObject] = []
    # hashlib releases the GIL on large buffers: a few threads keep the disk, not one core, the limit
    hasher = ThreadPoolExecutor(4) if any(o.is_local for o in objects) else None
    try:
        for start in range(0, len(objects), chunk):
            batch = objects[start : start + chunk]
            with engine.connect() as conn:
                rows = conn.execute(
                    select(
                        SourceObjectRow.bucket,
                        SourceObjectRow.key,
                        SourceObjectRow.version_id,
                        SourceObjectRow.etag,
                        SourceObjectRow.size,
                        SourceObjectRow.status,
                        SourceObjectRow.pipeline_version,
                    ).where(tuple_(SourceObjectRow.bucket, SourceObjectRow.key).in_([(o.bucket, o.key) for o in batch]))
                ).all()
            stored: dict[tuple[str, str], list[Any]] = defaultdict(list)
            for r in rows:
                if r.status in DONE_STATUSES and (not reprocess or r.pipeline_version == pipeline_version):
                    stored[(r.bucket, r.key)].append(r)
            # local files: hash only those with a finished row of the same size (a new size is new content)
            to_hash = [
                o
                for o in batch
                if o.is_local and any(r.size is None or r.size == o.size for r in stored.get((o.bucket, o.key), []))
            ]
            assert root is not None or not to_hash
            hashes: dict[str, str] = {}
            if to_hash and hasher is not None and root is not None:
                paths = [root / o.key for o in to_hash]
                hashes = dict(zip((o.key for o in to_hash), hasher.map(local_sha256, paths), strict=True))
            for obj in batch:
                finished = stored.get((obj.bucket, obj.key), [])
                if obj.is_local:
                    versions = {object_version(sha256=hashes[obj.key])} if obj.key in hashes else set()
                else:
                    versions = {object_version(version_id=obj.version_id), object_version(etag=obj.etag)} - {""}
                same = any(
                    r.version_id in versions or (obj.etag and r.etag and r.etag.strip('"') == obj.etag)
                    for r in finished
                )
                (done if same else todo).append(obj)
    finally:
        if hasher is not None:
            hasher.shutdown()
    return todo, done


# ------------------------------------------------------------------------------------------- enqueue


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


# -------------------------------------------------------------------------------------------- report


@dataclass
class ObjectOutcome:
    """What happened to one object in this run (returned by a worker process, so plain data only)."""

    bucket: str
    key: str
    submission_id: str
    status: str  # processed | duplicate | failed
    pages: int = 0
    documents: int = 0
    seconds: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    worker: int = 0  # pid
    max_rss_mb: float = 0.0  # the worker's peak RSS so far

    @property
    def display(self) -> str:
        return self.key if not self.bucket else f"s3://{self.bucket}/{self.key}"


@dataclass
class BackfillReport:
    job_id: str
    source: str
    pipeline_version: str
    mode: str  # "local" | "enqueue"
    workers: int = 1
    listed_objects: int = 0
    listed_submissions: int = 0
    skipped_objects: int = 0
    # this run
    attempted_objects: int = 0
    processed_objects: int = 0
    failed_objects: int = 0
    enqueued_messages: int = 0
    pages: int = 0
    wall_seconds: float = 0.0
    pages_per_second: float = 0.0
    interrupted: bool = False
    peak_rss_mb_by_worker: dict[str, float] = field(default_factory=dict)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    # the database's view of everything under SOURCE (this run and earlier ones)
    objects_by_status: dict[str, int] = field(default_factory=dict)
    submissions_by_status: dict[str, int] = field(default_factory=dict)
    documents_by_type: dict[str, int] = field(default_factory=dict)
    documents_by_type_and_status: dict[str, dict[str, int]] = field(default_factory=dict)
    errors_by_code: dict[str, int] = field(default_factory=dict)
    proposals_by_band: dict[str, int] = field(default_factory=dict)
    best_band_by_submission: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, default=str)

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """(section, key, value) rows: one flat file a spreadsheet or `grep` can read."""
        rows: list[tuple[str, str, str]] = []
        for name in (
            "job_id",
            "source",
            "pipeline_version",
            "mode",
            "workers",
            "listed_objects",
            "listed_submissions",
            "skipped_objects",
            "attempted_objects",
            "processed_objects",
            "failed_objects",
            "enqueued_messages",
            "pages",
            "wall_seconds",
            "pages_per_second",
            "interrupted",
        ):
            rows.append(("run", name, str(getattr(self, name))))
        for section in (
            "objects_by_status",
            "submissions_by_status",
            "documents_by_type",
            "errors_by_code",
            "proposals_by_band",
            "best_band_by_submission",
            "peak_rss_mb_by_worker",
        ):
            rows.extend((section, k, str(v)) for k, v in sorted(getattr(self, section).items()))
        for doc_type, by_status in sorted(self.documents_by_type_and_status.items()):
            rows.extend(
                ("documents_by_type_and_status", f"{doc_type}/{s}", str(n)) for s, n in sorted(by_status.items())
            )
        rows.extend(("slowest", o["file"], f"{o['seconds']:.3f}") for o in self.slowest)
        rows.extend(("failed", o["file"], f"{o['error_code']}: {o['error_message']}") for o in self.failed)
        return rows

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(("section", "key", "value"))
            writer.writerows(self.csv_rows())

    def render(self, console: Any) -> None:
        from rich.table import Table

        run = Table(title=f"backfill {self.job_id} ({self.mode}, pipeline {self.pipeline_version})", show_header=False)
        run.add_column(style="bold")
        run.add_column(justify="right")
        run.add_row("source", self.source)
        run.add_row("objects listed / submissions", f"{self.listed_objects} / {self.listed_submissions}")
        run.add_row("skipped (already done)", str(self.skipped_objects))
        if self.mode == "enqueue":
            run.add_row("messages enqueued", str(self.enqueued_messages))
        else:
            run.add_row("processed / failed this run", f"{self.processed_objects} / {self.failed_objects}")
            run.add_row("pages this run", str(self.pages))
            run.add_row("pages per second", f"{self.pages_per_second:.2f}")
            run.add_row(
                "peak RSS per worker (MB)", ", ".join(f"{v:.0f}" for v in self.peak_rss_mb_by_worker.values()) or "-"
            )
        run.add_row("wall time (s)", f"{self.wall_seconds:.1f}")
        if self.interrupted:
            run.add_row("[yellow]interrupted[/]", "re-run the same command to resume")
        console.print(run)
        if self.documents_by_type_and_status:
            statuses = sorted({st for by in self.documents_by_type_and_status.values() for st in by})
            t = Table(title="documents by type and review status")
            t.add_column("type")
            for st in statuses:
                t.add_column(st, justify="right")
            t.add_column("total", justify="right")
            for doc_type, by in sorted(self.documents_by_type_and_status.items()):
                t.add_row(doc_type, *(str(by.get(st, 0)) for st in statuses), str(sum(by.values())))
            console.print(t)
        for title, counts in (
            ("files by status", self.objects_by_status),
            ("submissions by status", self.submissions_by_status),
            ("errors by code", self.errors_by_code),
            ("proposals by band", self.proposals_by_band),
            ("submissions by best band", self.best_band_by_submission),
        ):
            if counts:
                t = Table(title=title)
                t.add_column(title.split(" by ")[-1])
                t.add_column("count", justify="right")
                for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
                    t.add_row(k, str(v))
                console.print(t)
        if self.slowest:
            t = Table(title="slowest files")
            t.add_column("file")
            t.add_column("pages", justify="right")
            t.add_column("seconds", justify="right")
            for o in self.slowest:
                t.add_row(o["file"], str(o["pages"]), f"{o['seconds']:.2f}")
            console.print(t)
        if self.failed:
            t = Table(title=f"failed files ({len(self.failed)})")
            t.add_column("file")
            t.add_column("code")
            t.add_column("reason")
            for o in self.failed[:50]:
                t.add_row(o["file"], o["error_code"] or "", (o["error_message"] or "")[:120])
            console.print(t)


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def database_counts(engine: Any, objects: Sequence[SourceObject], chunk: int = 500) -> dict[str, Any]:
    """Aggregate the stored results of SOURCE's objects and submissions (chunked IN lists: a million
    keys do not fit in one statement)."""
    from sqlalchemy import func, select, tuple_

    from worker.store.results import DocumentRow, ErrorRow, ProposalRow, SourceObjectRow, SubmissionRow

    out: dict[str, Counter[str]] = {
        k: Counter()
        for k in (
            "objects_by_status",
            "submissions_by_status",
            "documents_by_type",
            "errors_by_code",
            "proposals_by_band",
            "best_band_by_submission",
        )
    }
    by_type_status: dict[str, Counter[str]] = defaultdict(Counter)
    submissions = sorted({o.submission_id for o in objects})
    with engine.connect() as conn:
        for batch in _chunks(objects, chunk):
            # an overwritten key has a row per version: count the newest, so a file counts once
            newest = (
                select(func.max(SourceObjectRow.id))
                .where(tuple_(SourceObjectRow.bucket, SourceObjectRow.key).in_([(o.bucket, o.key) for o in batch]))
                .group_by(SourceObjectRow.bucket, SourceObjectRow.key)
            )
            for status, n in conn.execute(
                select(SourceObjectRow.status, func.count())
                .where(SourceObjectRow.id.in_(newest))
                .group_by(SourceObjectRow.status)
            ):
                out["objects_by_status"][status] += n
        for batch in _chunks(submissions, chunk):
            for status, n in conn.execute(
                select(SubmissionRow.status, func.count())
                .where(SubmissionRow.id.in_(batch))
                .group_by(SubmissionRow.status)
            ):
                out["submissions_by_status"][status] += n
            for band, n in conn.execute(
                select(SubmissionRow.best_band, func.count())
                .where(SubmissionRow.id.in_(batch))
                .group_by(SubmissionRow.best_band)
            ):
                out["best_band_by_submission"][band or "no_proposal"] += n
            # a document's status is where its submission stands in review (pending | in_review | decided)
            for doc_type, review_status, n in conn.execute(
                select(DocumentRow.doc_type, SubmissionRow.review_status, func.count())
                .join(SubmissionRow, SubmissionRow.id == DocumentRow.submission_id)
                .where(DocumentRow.submission_id.in_(batch))
                .group_by(DocumentRow.doc_type, SubmissionRow.review_status)
            ):
                out["documents_by_type"][doc_type] += n
                by_type_status[doc_type][review_status] += n
            for code, n in conn.execute(
                select(ErrorRow.code, func.count()).where(ErrorRow.submission_id.in_(batch)).group_by(ErrorRow.code)
            ):
                out["errors_by_code"][code] += n
            for band, n in conn.execute(
                select(ProposalRow.band, func.count())
                .where(ProposalRow.submission_id.in_(batch))
                .group_by(ProposalRow.band)
            ):
                out["proposals_by_band"][band] += n
    result: dict[str, Any] = {k: dict(v) for k, v in out.items()}
    result["documents_by_type_and_status"] = {k: dict(v) for k, v in by_type_status.items()}
    return result


# ------------------------------------------------------------------------------------ local processing


class DirectoryStore:
    """Reads originals from the SOURCE directory (keys relative to it, like the inbox's); derived images go
    where the inbox's go. Built on the inbox store so identity and error codes stay the same."""

    origin = "inbox"

    def __init__(self, root: Path, settings: Settings) -> None:
        from worker.intake.sources import InboxStore

        class _Store(InboxStore):
            def _candidates(self, key: str, sha256: str | None) -> list[tuple[Path, str]]:
                return [(root, key)]

        self._inner = _Store(root, root, settings.data_dir)

    def fetch(self, item: Any, *, max_bytes: int) -> Any:
        return self._inner.fetch(item, max_bytes=max_bytes)

    def put_derived(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        return self._inner.put_derived(name, data, content_type)

    def read_derived(self, image_key: str) -> bytes:
        return self._inner.read_derived(image_key)


@dataclass
class _Context:
    processor: Any
    root: Path | None
    job_id: str
    pipeline_version: str
    reprocess: bool
    retries: int
    stop: Any = None  # a multiprocessing.Event shared with the parent: stop between files


_ctx: _Context | None = None


def make_proposer(settings: Settings, engine: Any) -> Any:
    """The matcher's propose function, built once per process; None when there is nothing to match against."""
    import importlib

    try:
        matcher_cls = getattr(importlib.import_module("worker.match"), "Matcher", None)
    except ImportError:
        matcher_cls = None
    if matcher_cls is None:
        return None
    matcher = matcher_cls(engine, settings)
    return matcher.propose if matcher.registry_size() > 0 else None


def init_worker(
    settings_json: str,
    *,
    root: str | None,
    bucket: str,
    prefix: str,
    job_id: str,
    pipeline_version: str,
    reprocess: bool,
    in_pool: bool = True,
    retries: int = 2,
    stop: Any = None,
) -> None:
    """Per-process start-up: engine, object store, matcher and OCR models once, never per object."""
    global _ctx
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per process beats Tesseract's own threads
    if in_pool:
        # Ctrl-C reaches the whole process group: the parent decides, workers finish what they hold
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from worker.intake.processor import Processor
    from worker.intake.sources import S3Store
    from worker.store.db import make_engine

    settings = Settings.model_validate_json(settings_json)
    # the parent has migrated the schema already; a worker only connects
    engine = make_engine(settings.resolved_database_url)
    store: Any = DirectoryStore(Path(root), settings) if root else S3Store(settings.bucket or bucket)
    processor = Processor(
        settings, engine, store, propose=make_proposer(settings, engine), key_prefix=prefix, worker_id=None
    )
    _ctx = _Context(processor, Path(root) if root else None, job_id, pipeline_version, reprocess, retries, stop)


def peak_rss_mb() -> float:
    """This process's peak RSS. ru_maxrss would do on its own, but Linux carries it over fork+exec, so a
    spawned worker would report its parent's peak (large after listing a million objects); VmHWM belongs
    to the current address space only."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_submission(objects: Sequence[SourceObject], stop: threading.Event | None = None) -> list[ObjectOutcome]:
    """Run one submission's objects through the queue worker's Processor, in order, in this process.
    A submission stays in one process so its re-matches never race each other."""
    from worker.intake.events import WorkItem

    assert _ctx is not None, "init_worker first"
    stop = stop or _ctx.stop
    outcomes: list[ObjectOutcome] = []
    for obj in objects:
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        version_id = obj.version_id
        if obj.is_local and _ctx.root is not None:
            # the inbox's identity for a file is its content hash; the store re-checks it on fetch
            version_id = "sha256:" + local_sha256(_ctx.root / obj.key)
        item = WorkItem(
            kind="backfill",
            key=obj.key,
            bucket=obj.bucket or None,
            version_id=version_id,
            etag=obj.etag,
            size=obj.size,
            submission_id=obj.submission_id,
            force=_ctx.reprocess,
            pipeline_version=_ctx.pipeline_version,
            backfill_id=_ctx.job_id,
        )
        outcome = ObjectOutcome(obj.bucket, obj.key, obj.submission_id, "failed", worker=os.getpid())
        for attempt in range(1, _ctx.retries + 2):
            try:
                result = _ctx.processor.process(item, attempts=attempt)
            except Exception as exc:  # transient (storage, database, OCR engine) or a bug: retry, then record
                code = getattr(getattr(exc, "code", None), "value", None) or "internal_error"
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                outcome.error_code, outcome.error_message = code, message
                if attempt <= _ctx.retries:
                    time.sleep(0.5 * attempt)
                    continue
                _ctx.processor.record_transient(item, code, message, dead=False)
                break
            outcome.status = result.status
            outcome.documents = result.documents
            outcome.error_code = result.error_code
            outcome.error_message = result.detail if result.status == "failed" else None
            if result.status == "processed":
                outcome.pages = _pages_of(obj, version_id)
            break
        outcome.seconds = time.perf_counter() - started
        outcome.max_rss_mb = peak_rss_mb()
        outcomes.append(outcome)
    return outcomes


def _pages_of(obj: SourceObject, version_id: str | None) -> int:
    """Distinct pages read from one object (a page cut into two cards counts once)."""
    from sqlalchemy import distinct, func, select

    from worker.store.results import DocumentRow, SourceObjectRow
    from worker.store.submissions import object_version

    assert _ctx is not None
    version = object_version(version_id=version_id, etag=obj.etag)
    with _ctx.processor.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count(distinct(DocumentRow.page)))
                .join(SourceObjectRow, SourceObjectRow.id == DocumentRow.source_object_id)
                .where(
                    SourceObjectRow.bucket == obj.bucket,
                    SourceObjectRow.key == obj.key,
                    SourceObjectRow.version_id == version,
                )
            ).scalar_one()
        )


def _pool(workers: int, init: Callable[[], None], mp: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp, initializer=init)


def _pool_task(objects: list[SourceObject]) -> list[ObjectOutcome]:
    return process_submission(objects)


def run_local(
    groups: dict[str, list[SourceObject]],
    *,
    workers: int,
    init: Callable[..., None],
    stop: threading.Event,
    on_outcome: Callable[[ObjectOutcome], None],
    max_pool_restarts: int = 3,
) -> bool:
    """Process every submission; returns True if stopped before the end. ``init`` is init_worker with its
    arguments bound (it also runs in-process when workers == 1, where no pool is worth its start-up).

    Stopping: submissions not yet started are cancelled, workers finish the file they hold and skip the
    rest of their submission; what was recorded stays recorded, so the next run resumes after it."""
    pending = list(groups.values())
    if workers <= 1:
        init(in_pool=False, stop=stop)
        for objects in pending:
            if stop.is_set():
                return True
            for outcome in process_submission(objects, stop):
                on_outcome(outcome)
        return stop.is_set()

    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool
    from functools import partial

    # spawn, not fork: the parent holds a database pool and rich's threads, neither survives a fork
    mp = multiprocessing.get_context("spawn")
    shared_stop = mp.Event()
    make_pool = partial(_pool, workers, partial(init, in_pool=True, stop=shared_stop), mp)
    restarts = 0
    queue = iter(pending)
    pool = make_pool()
    in_flight: dict[Future[list[ObjectOutcome]], list[SourceObject]] = {}
    try:
        exhausted = False
        while True:
            if stop.is_set() and not shared_stop.is_set():
                shared_stop.set()
                for fut in list(in_flight):
                    if fut.cancel():
                        in_flight.pop(fut)
            # a window of one queued submission per worker: enough to keep them busy, little to cancel,
            # and a million submissions are never all pickled into the pool at once
            while not stop.is_set() and not exhausted and len(in_flight) < workers * 2:
                objects = next(queue, [])
                if not objects:
                    exhausted = True
                    break
                in_flight[pool.submit(_pool_task, objects)] = objects
            if not in_flight:
                break
            finished, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                objects = in_flight.pop(fut)
                try:
                    outcomes = fut.result()
                except BrokenProcessPool:
                    broken = True
                    outcomes = [_died(o, "a worker process died (out of memory or killed)") for o in objects]
                except Exception as exc:  # pickling trouble or a bug outside the Processor's own handling
                    outcomes = [_died(o, f"{type(exc).__name__}: {exc}") for o in objects]
                for outcome in outcomes:
                    on_outcome(outcome)
            if broken:
                for fut, objects in list(in_flight.items()):
                    for o in objects:
                        on_outcome(_died(o, "lost with a dead worker process"))
                    in_flight.pop(fut)
                pool.shutdown(wait=False, cancel_futures=True)
                restarts += 1
                if restarts > max_pool_restarts:
                    stop.set()
                    return True
                pool = make_pool()
        return stop.is_set()
    except KeyboardInterrupt:
        # second Ctrl-C: abandon in-flight work; nothing half-written is committed, the next run redoes it
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _died(obj: SourceObject, message: str) -> ObjectOutcome:
    return ObjectOutcome(
        obj.bucket, obj.key, obj.submission_id, "failed", error_code="internal_error", error_message=message
    )


# ---------------------------------------------------------------------------------------------- command


class _RunStats:
    """Run-side numbers for the progress bar and the report (the parent's view of worker outcomes)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.pages = 0
        self.processed = 0
        self.failed = 0
        self.outcomes: list[ObjectOutcome] = []
        self.rss: dict[int, float] = {}

    def add(self, o: ObjectOutcome) -> None:
        self.outcomes.append(o)
        self.pages += o.pages
        if o.status == "failed":
            self.failed += 1
        else:
            self.processed += 1
        if o.worker:
            self.rss[o.worker] = max(self.rss.get(o.worker, 0.0), o.max_rss_mb)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def _finish_report(report: BackfillReport, stats: _RunStats, engine: Any, objects: Sequence[SourceObject]) -> None:
    report.wall_seconds = round(stats.seconds, 3)
    report.attempted_objects = len(stats.outcomes)
    report.processed_objects = stats.processed
    report.failed_objects = stats.failed
    report.pages = stats.pages
    report.pages_per_second = round(stats.pages_per_second, 3)
    report.peak_rss_mb_by_worker = {str(pid): round(mb, 1) for pid, mb in stats.rss.items()}
    slowest = sorted(stats.outcomes, key=lambda o: o.seconds, reverse=True)[:10]
    report.slowest = [
        {"file": o.display, "seconds": round(o.seconds, 3), "pages": o.pages, "status": o.status} for o in slowest
    ]
    report.failed = [
        {
            "file": o.display,
            "error_code": o.error_code,
            "error_message": o.error_message,
            "seconds": round(o.seconds, 3),
        }
        for o in stats.outcomes
        if o.status == "failed"
    ]
    for name, value in database_counts(engine, objects).items():
        setattr(report, name, value)


def _enqueue_keys(source: Source, settings: Settings) -> None:
    """A local SOURCE can be enqueued only if the fleet can read it: the inbox or its archive."""
    from worker.intake.sources import archive_dir

    assert source.path is not None
    readable = {settings.resolved_inbox_dir.resolve(), archive_dir(settings).resolve()}
    if source.path.resolve() not in readable:
        raise click.BadParameter(
            f"{source.path}: workers read local files only from the inbox ({settings.resolved_inbox_dir}) or its "
            "archive; process this folder here (without --enqueue), or upload it to the bucket",
            param_hint="SOURCE",
        )


@click.command("backfill")
@click.argument("source")
@click.option("--workers", "-w", default=1, show_default=True, help="Local worker processes (one core each)")
@click.option("--enqueue", is_flag=True, help="Send one backfill message per object to the queue instead")
@click.option("--reprocess", is_flag=True, help="Re-read objects processed by an older pipeline version")
@click.option("--prefix", default="", help="Inventory manifests: only keys under this prefix (submissions below it)")
@click.option("--queue-url", default=None, help="SQS queue for --enqueue (default INTAKE_QUEUE_URL)")
@click.option("--limit", type=int, default=None, help="Stop after this many objects (a trial run)")
@click.option("--dry-run", is_flag=True, help="List and plan only: how much is left to do")
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=Path), help="Write the end report as JSON")
@click.option("--report-csv", type=click.Path(dir_okay=False, path_type=Path), help="Write the end report as CSV")
def backfill(
    source: str,
    workers: int,
    enqueue: bool,
    reprocess: bool,
    prefix: str,
    queue_url: str | None,
    limit: int | None,
    dry_run: bool,
    report_json: Path | None,
    report_csv: Path | None,
) -> int:
    """Push an archive of scans through the pipeline. SOURCE is a local directory, s3://bucket/prefix, or an
    S3 Inventory manifest.json (local or s3://). Files are grouped into submissions like live intake: the
    first folder under the prefix is the submission.

    \b
    Re-running resumes: objects already processed (same etag / sha256) are skipped; --reprocess re-reads
    those processed by an older pipeline version. Ctrl-C stops cleanly (in-flight files finish, the report
    is printed); a second Ctrl-C abandons in-flight files, which the next run redoes."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from worker.pipeline import PIPELINE_VERSION
    from worker.store.submissions import open_store

    console = Console(stderr=True)
    settings = get_settings()
    parsed = parse_source(source, prefix)
    if enqueue:
        queue_url = queue_url or settings.queue_url
        if not queue_url:
            raise click.UsageError("--enqueue needs a queue: --queue-url or INTAKE_QUEUE_URL")
        if parsed.kind == "local":
            _enqueue_keys(parsed, settings)
    engine = open_store(settings.resolved_database_url)
    job_id = "bf-" + time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    stop = threading.Event()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]stopping: finishing in-flight files (Ctrl-C again to abandon them)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    report = BackfillReport(
        job_id, source, PIPELINE_VERSION, "enqueue" if enqueue else "local", workers=1 if enqueue else workers
    )
    stats = _RunStats()
    objects: list[SourceObject] = []
    try:
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task("listing", total=None, rate="")
            for obj in list_objects(parsed):
                objects.append(obj)
                if len(objects) % 1000 == 0:
                    bar.update(task, completed=len(objects))
                if stop.is_set():
                    break
            bar.update(task, completed=len(objects), total=len(objects))
            groups_all = group_submissions(objects)
            report.listed_objects, report.listed_submissions = len(objects), len(groups_all)
            bar.update(task, description="checking what is done", completed=0)
            todo, done = plan(objects, engine, pipeline_version=PIPELINE_VERSION, reprocess=reprocess, root=parsed.path)
            report.skipped_objects = len(done)
            if limit is not None:
                todo = todo[:limit]
            bar.remove_task(task)
            console.print(
                f"{len(objects)} objects in {len(groups_all)} submissions; {len(done)} already done, "
                f"{len(todo)} to {'enqueue' if enqueue else 'process'} (job {job_id})"
            )
            if dry_run or stop.is_set():
                pass
            elif enqueue:
                task = bar.add_task("enqueueing", total=len(todo), rate="")
                todo_msgs = todo
                if parsed.kind == "local":
                    assert parsed.path is not None
                    todo_msgs = [
                        SourceObject(
                            o.bucket,
                            o.key,
                            o.submission_id,
                            o.size,
                            o.etag,
                            "sha256:" + local_sha256(parsed.path / o.key),
                        )
                        for o in todo
                    ]
                report.enqueued_messages = enqueue_objects(
                    todo_msgs,
                    _client("sqs"),
                    queue_url or "",
                    job_id=job_id,
                    pipeline_version=PIPELINE_VERSION,
                    force=reprocess,
                    progress=lambda n: bar.advance(task, n),
                    stop=stop,
                )
            else:
                task = bar.add_task("processing", total=len(todo), rate="")

                def on_outcome(o: ObjectOutcome) -> None:
                    stats.add(o)
                    bar.update(task, advance=1, rate=f"{stats.pages_per_second:.2f} pages/s, {stats.failed} failed")

                from functools import partial

                init = partial(
                    init_worker,
                    settings.model_dump_json(),
                    root=str(parsed.path) if parsed.kind == "local" else None,
                    bucket=parsed.bucket,
                    prefix=parsed.prefix,
                    job_id=job_id,
                    pipeline_version=PIPELINE_VERSION,
                    reprocess=reprocess,
                )
                stats.started = time.perf_counter()  # pages/s of the processing, not of the listing
                run_local(group_submissions(todo), workers=workers, init=init, stop=stop, on_outcome=on_outcome)
    except KeyboardInterrupt:
        stop.set()
        console.print("[yellow]abandoned in-flight files; re-run the same command to resume[/]")
    finally:
        signal.signal(signal.SIGINT, previous)
    report.interrupted = stop.is_set()
    _finish_report(report, stats, engine, objects)
    report.render(console)
    if report_json:
        report_json.write_text(report.to_json(), encoding="utf-8")
    if report_csv:
        report.write_csv(report_csv)
    engine.dispose()
    return 130 if report.interrupted else 0


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
