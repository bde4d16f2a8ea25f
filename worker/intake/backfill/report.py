"""The end report: what this run did (from the outcomes) and what the database holds for SOURCE."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import func, select, tuple_

from worker.intake.backfill.listing import SourceObject
from worker.store.results import DocumentRow, ErrorRow, ProposalRow, SourceObjectRow, SubmissionRow

# the report's counts of what the database holds for SOURCE (database_counts fills them)
DATABASE_COUNTS = (
    "objects_by_status",
    "submissions_by_status",
    "documents_by_type",
    "errors_by_code",
    "proposals_by_band",
    "best_band_by_submission",
)


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
        for section in (*DATABASE_COUNTS, "peak_rss_mb_by_worker"):
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
    out: dict[str, Counter[str]] = {k: Counter() for k in DATABASE_COUNTS}
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


class RunStats:
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


def finish_report(report: BackfillReport, stats: RunStats, engine: Any, objects: Sequence[SourceObject]) -> None:
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
