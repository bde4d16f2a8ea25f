"""`intake backfill`: list, plan, then enqueue or process locally, and report."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine

from models.settings import Settings, get_settings
from worker import pipeline
from worker.intake.backfill.enqueue import enqueue_objects
from worker.intake.backfill.listing import Source, SourceObject, client, group_submissions, list_objects, parse_source
from worker.intake.backfill.local import init_worker, run_local
from worker.intake.backfill.plan import plan
from worker.intake.backfill.report import BackfillReport, ObjectOutcome, RunStats, finish_report
from worker.intake.folder import local_sha256
from worker.intake.sources import archive_dir
from worker.progress import progress_bar
from worker.wiring import backfill_processor, open_engine


def _enqueue_keys(source: Source, settings: Settings) -> None:
    """A local SOURCE can be enqueued only if the fleet can read it: the inbox or its archive."""
    assert source.path is not None
    readable = {settings.resolved_inbox_dir.resolve(), archive_dir(settings).resolve()}
    if source.path.resolve() not in readable:
        raise click.BadParameter(
            f"{source.path}: workers read local files only from the inbox ({settings.resolved_inbox_dir}) or its "
            "archive; process this folder here (without --enqueue), or upload it to the bucket",
            param_hint="SOURCE",
        )


@dataclass
class _Run:
    """One run of the command: what it was asked, and where it stands."""

    parsed: Source
    settings: Settings
    engine: Engine
    report: BackfillReport
    console: Console
    stop: threading.Event = field(default_factory=threading.Event)
    stats: RunStats = field(default_factory=RunStats)
    objects: list[SourceObject] = field(default_factory=list)


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
    console = Console(stderr=True)
    settings = get_settings()
    parsed = parse_source(source, prefix)
    if enqueue:
        queue_url = queue_url or settings.queue_url
        if not queue_url:
            raise click.UsageError("--enqueue needs a queue: --queue-url or INTAKE_QUEUE_URL")
        if parsed.kind == "local":
            _enqueue_keys(parsed, settings)
    job_id = "bf-" + time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report = BackfillReport(
        job_id, source, pipeline.PIPELINE_VERSION, "enqueue" if enqueue else "local", workers=1 if enqueue else workers
    )
    run = _Run(parsed, settings, open_engine(settings), report, console)

    def on_sigint(_signum: int, _frame: Any) -> None:
        if run.stop.is_set():
            raise KeyboardInterrupt
        run.stop.set()
        console.print("[yellow]stopping: finishing in-flight files (Ctrl-C again to abandon them)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with progress_bar(console, spinner=True) as bar:
            todo = _list_and_plan(run, bar, reprocess=reprocess, limit=limit, enqueue=enqueue)
            if dry_run or run.stop.is_set():
                pass
            elif enqueue:
                report.enqueued_messages = _enqueue_todo(run, bar, todo, queue_url or "", reprocess=reprocess)
            else:
                _process_todo(run, bar, todo, workers=workers, reprocess=reprocess)
    except KeyboardInterrupt:
        run.stop.set()
        console.print("[yellow]abandoned in-flight files; re-run the same command to resume[/]")
    finally:
        signal.signal(signal.SIGINT, previous)
    report.interrupted = run.stop.is_set()
    finish_report(report, run.stats, run.engine, run.objects)
    report.render(console)
    if report_json:
        report_json.write_text(report.to_json(), encoding="utf-8")
    if report_csv:
        report.write_csv(report_csv)
    run.engine.dispose()
    return 130 if report.interrupted else 0


def _list_and_plan(
    run: _Run, bar: Progress, *, reprocess: bool, limit: int | None, enqueue: bool
) -> list[SourceObject]:
    """List SOURCE (stoppable), then split it into what is left to do and what is done already."""
    task = bar.add_task("listing", total=None, rate="")
    objects = run.objects
    for obj in list_objects(run.parsed):
        objects.append(obj)
        if len(objects) % 1000 == 0:
            bar.update(task, completed=len(objects))
        if run.stop.is_set():
            break
    bar.update(task, completed=len(objects), total=len(objects))
    groups_all = group_submissions(objects)
    run.report.listed_objects, run.report.listed_submissions = len(objects), len(groups_all)
    bar.update(task, description="checking what is done", completed=0)
    todo, done = plan(
        objects, run.engine, pipeline_version=pipeline.PIPELINE_VERSION, reprocess=reprocess, root=run.parsed.path
    )
    run.report.skipped_objects = len(done)
    if limit is not None:
        todo = todo[:limit]
    bar.remove_task(task)
    run.console.print(
        f"{len(objects)} objects in {len(groups_all)} submissions; {len(done)} already done, "
        f"{len(todo)} to {'enqueue' if enqueue else 'process'} (job {run.report.job_id})"
    )
    return todo


def _enqueue_todo(run: _Run, bar: Progress, todo: list[SourceObject], queue_url: str, *, reprocess: bool) -> int:
    task = bar.add_task("enqueueing", total=len(todo), rate="")
    if run.parsed.kind == "local":
        root = run.parsed.path
        assert root is not None
        # the inbox's identity for a file is its content hash (what a worker's fetch checks)
        todo = [
            SourceObject(o.bucket, o.key, o.submission_id, o.size, o.etag, "sha256:" + local_sha256(root / o.key))
            for o in todo
        ]
    return enqueue_objects(
        todo,
        client("sqs", queue_url),
        queue_url,
        job_id=run.report.job_id,
        pipeline_version=pipeline.PIPELINE_VERSION,
        force=reprocess,
        progress=lambda n: bar.advance(task, n),
        stop=run.stop,
    )


def _process_todo(run: _Run, bar: Progress, todo: list[SourceObject], *, workers: int, reprocess: bool) -> None:
    task = bar.add_task("processing", total=len(todo), rate="")
    stats = run.stats

    def on_outcome(o: ObjectOutcome) -> None:
        stats.add(o)
        bar.update(task, advance=1, rate=f"{stats.pages_per_second:.2f} pages/s, {stats.failed} failed")

    local_root = str(run.parsed.path) if run.parsed.kind == "local" else None
    build = partial(
        backfill_processor,
        run.settings.model_dump_json(),
        root=local_root,
        bucket=run.parsed.bucket,
        prefix=run.parsed.prefix,
    )
    init = partial(
        init_worker,
        build,
        root=local_root,
        job_id=run.report.job_id,
        pipeline_version=pipeline.PIPELINE_VERSION,
        reprocess=reprocess,
    )
    stats.started = time.perf_counter()  # pages/s of the processing, not of the listing
    run_local(group_submissions(todo), workers=workers, init=init, stop=run.stop, on_outcome=on_outcome)
