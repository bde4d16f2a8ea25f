"""Operator commands: `intake worker`, `intake dlq list|redrive`, `intake status`.

Registered in worker/cli.py; also runnable as `python -m worker.intake ...` (the supervisor starts its worker
processes that way)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import click
from rich.console import Console
from rich.table import Table

from models.settings import get_settings
from worker.failures import EXIT_MISSING, check_port_free
from worker.intake.loop import WorkerOptions, run_supervisor
from worker.intake.queues import dead_letter_body, make_queue
from worker.intake.relay import serve_relay
from worker.logging import configure_logging
from worker.store import submissions as repo
from worker.store.db import session_scope
from worker.store.migrate import open_database
from worker.wiring import run_single

log = logging.getLogger(__name__)


@click.command("worker")
@click.option(
    "--concurrency", "-c", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Worker processes (each runs Tesseract single-threaded; use one per core)",
)  # fmt: skip
@click.option("--drain", "--once", "drain", is_flag=True, help="Exit once the queue (and the inbox) is empty")
@click.option(
    "--inbox", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Inbox folder to watch (embedded mode; default INTAKE_INBOX_DIR or <data_dir>/inbox)",
)  # fmt: skip
@click.option(
    "--metrics-port", type=int, default=None, help="Serve /metrics, /healthz, /readyz (default INTAKE_METRICS_PORT)"
)
@click.option(
    "--grace", type=float, default=None, help="SIGTERM grace period in seconds (default INTAKE_SHUTDOWN_GRACE_S)"
)
@click.option("--wait", type=float, default=20.0, show_default=True, help="Long-poll wait per receive, seconds")
@click.option("--settle", type=float, default=2.0, show_default=True, help="Inbox: seconds a file must stay unchanged")
@click.option(
    "--key-prefix", default="", envvar="INTAKE_KEY_PREFIX", show_envvar=True,
    help="Bucket prefix under which the first folder is the submission",
)  # fmt: skip
@click.option(
    "--backoff",
    type=float,
    default=5.0,
    show_default=True,
    help="First retry delay after a transient error, seconds (doubles per attempt)",
)
@click.option("--no-watch", is_flag=True, hidden=True, help="Do not watch the inbox (the supervisor does)")
@click.option("--worker-index", type=int, default=None, hidden=True)
def worker_command(
    concurrency: int,
    drain: bool,
    inbox: Path | None,
    metrics_port: int | None,
    grace: float | None,
    wait: float,
    settle: float,
    key_prefix: str,
    backoff: float,
    no_watch: bool,
    worker_index: int | None,
) -> None:
    """Process scans from the queue until stopped (SIGTERM finishes the current scan first).

    \b
    Embedded (no configuration): watches <data_dir>/inbox; each sub-folder is one submission; a durable
    SQLite queue and database live under <data_dir>.
    Production: INTAKE_BUCKET + INTAKE_QUEUE_URL (S3 ObjectCreated notifications to SQS),
    INTAKE_DEAD_LETTER_QUEUE_URL, INTAKE_DATABASE_URL=postgresql+psycopg://...; AWS_ENDPOINT_URL,
    AWS_REGION and the AWS credentials chain as usual."""
    settings = get_settings()
    options = WorkerOptions(
        wait_s=wait,
        grace_s=grace,
        drain=drain,
        watch=not no_watch,
        settle_s=settle,
        key_prefix=key_prefix,
        backoff_base_s=backoff,
    )
    port = metrics_port if metrics_port is not None else settings.metrics_port
    if worker_index is not None:
        port = None  # a supervised worker: the supervisor serves the fleet's metrics
    if port is not None:
        check_port_free("0.0.0.0", port, "--metrics-port or INTAKE_METRICS_PORT")
    if concurrency > 1:
        # the supervisor's children would each fail on their own: a database that cannot be used stops the
        # command here, with one line (worker.failures), before any child starts
        open_database(settings.resolved_database_url).dispose()
    # so does a queue without credentials, region or existence (later outages are retried with backoff)
    make_queue(settings).depth()
    if concurrency > 1:
        sys.exit(run_supervisor(settings, concurrency=concurrency, options=options, inbox=inbox, metrics_port=port))
    stats = run_single(settings, options=options, inbox=inbox, metrics_port=port)
    log.info("worker stopped: %d message(s) %s", stats.messages, dict(stats.outcomes))
    if stats.results.get("abandoned"):
        # A job thread is still inside Tesseract's C++ code; letting the interpreter finalise around it
        # aborts the process (SIGABRT). Its message is already released, so leave without finalising.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@click.group("dlq")
def dlq() -> None:
    """The dead-letter queue: messages given up on, with the error that condemned them."""


def _describe(body: Any) -> str:
    if isinstance(body, dict):
        if "key" in body:
            return f"{body.get('kind', '')} {body.get('bucket') or ''}{'/' if body.get('bucket') else ''}{body['key']}"
        records = body.get("Records")
        if isinstance(records, list) and records:
            try:
                return "s3://" + ", ".join(
                    f"{r['s3']['bucket']['name']}/{unquote_plus(r['s3']['object']['key'])}" for r in records
                )
            except (KeyError, TypeError):
                pass
    return str(body)[:80]


@dlq.command("list")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter")
def dlq_list(limit: int, as_json: bool) -> None:
    """Show dead letters: id, error code, receive count, what they were about, the error."""
    settings = get_settings()
    dead = make_queue(settings).list_dead(limit)
    if as_json:
        for d in dead:
            click.echo(json.dumps(dead_letter_body(d), ensure_ascii=False, default=str))
        return

    table = Table(title=f"dead letters ({len(dead)})")
    for col in ("id", "code", "receives", "object", "error"):
        table.add_column(col)
    for d in dead:
        body = dead_letter_body(d)["body"]
        table.add_row(
            d.id[:12], d.error_code or "", str(d.receive_count), _describe(body), (d.error_message or "")[:80]
        )
    Console().print(table)
    if not settings.queue_url or settings.dead_letter_queue_url:
        return
    click.echo("note: INTAKE_DEAD_LETTER_QUEUE_URL is not set; nothing to list", err=True)


@dlq.command("redrive")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Redrive every dead letter")
@click.option("--limit", type=int, default=None, help="At most this many")
def dlq_redrive(ids: tuple[str, ...], all_: bool, limit: int | None) -> None:
    """Put dead letters back on the queue (the given IDS, or --all) with a fresh retry budget."""
    if not ids and not all_:
        raise click.UsageError("give message IDS (see `intake dlq list`) or --all")
    settings = get_settings()
    queue = make_queue(settings)
    # accept the 12-character prefixes `dlq list` shows
    wanted = None
    if ids:
        dead = queue.list_dead(10_000)
        wanted = [d.id for d in dead if any(d.id.startswith(i) for i in ids)]
        if not wanted:
            click.echo("no dead letter matches those ids", err=True)
            return
    moved = queue.redrive(wanted, limit=limit)
    click.echo(f"redrove {moved} message(s)")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object")
def status(as_json: bool) -> None:
    """Queue depth, jobs by status and by error code, source objects by status."""
    settings = get_settings()
    report: dict[str, Any] = {"queue": None, "database": settings.resolved_database_url.split("@")[-1]}
    try:
        queue = make_queue(settings)
        depth = queue.depth()
        report["queue"] = {
            "name": queue.name,
            "visible": depth.visible,
            "in_flight": depth.in_flight,
            "dead": depth.dead,
        }
    except Exception as exc:
        report["queue_error"] = str(exc)
    try:
        engine = open_database(settings.resolved_database_url)
        with session_scope(engine) as s:
            report["jobs"] = repo.job_counts(s)
            report["errors"] = repo.error_counts(s)
            report["objects"] = repo.object_counts(s)
            oldest = repo.oldest_unfinished_job(s)
            report["oldest_unfinished_job"] = oldest.isoformat() if oldest else None
    except Exception as exc:
        report["database_error"] = str(exc).splitlines()[0]
    if as_json:
        click.echo(json.dumps(report, default=str))
    else:
        out = Console()
        table = Table(show_header=False, title="intake status")
        q = report.get("queue")
        if q:
            table.add_row("queue", q["name"])
            table.add_row(
                "  waiting / in flight / dead",
                f"{q['visible']} / {q['in_flight']} / {q['dead'] if q['dead'] is not None else '-'}",
            )
        else:
            table.add_row("queue", f"[red]unreachable[/]: {report.get('queue_error')}")
        if "database_error" in report:
            table.add_row("database", f"[red]unreachable[/]: {report['database_error']}")
        else:
            table.add_row("jobs by status", ", ".join(f"{k}: {v}" for k, v in sorted(report["jobs"].items())) or "none")
            table.add_row(
                "jobs by error code", ", ".join(f"{k}: {v}" for k, v in sorted(report["errors"].items())) or "none"
            )
            table.add_row(
                "objects by status", ", ".join(f"{k}: {v}" for k, v in sorted(report["objects"].items())) or "none"
            )
            table.add_row("oldest unfinished job", report["oldest_unfinished_job"] or "-")
        out.print(table)
    if "queue_error" in report or "database_error" in report:
        sys.exit(EXIT_MISSING)


@click.command("relay")
@click.option("--host", default="127.0.0.1", show_default=True, help="Anything but loopback needs INTAKE_RELAY_TOKEN.")
@click.option("--port", default=8081, show_default=True, type=int)
@click.option(
    "--token", envvar="INTAKE_RELAY_TOKEN", show_envvar=True, default=None, help="Require 'Authorization: Bearer TOKEN'"
)
def relay(host: str, port: int, token: str | None) -> None:
    """Forward S3 event notifications POSTed by a webhook (MinIO) to the work queue (SQS or the local queue)."""


    check_port_free(host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = get_settings()
    try:
        server = serve_relay(make_queue(settings), host=host, port=port, token=token, bucket=settings.bucket)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()


COMMANDS = (worker_command, dlq, status, relay)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main_group() -> None:
    """The queue worker and its operator commands (also available as `intake worker|dlq|status`)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


for _command in COMMANDS:
    main_group.add_command(_command)
