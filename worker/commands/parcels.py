"""`intake parcels`: the registry (VBDLIS export) the matcher proposes parcels from."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import click
from rich.console import Console
from rich.progress import Progress

from models.settings import get_settings
from worker import aws, progress
from worker.store.migrate import open_database
from worker.store.registry import import_csv

console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return progress.progress_bar(console, transient=transient)


@click.group()
def parcels() -> None:
    """The registry (VBDLIS export) the matcher proposes parcels from."""


@parcels.command("import")
@click.argument("source")
def parcels_import(source: str) -> None:
    """Load a registry export (CSV, one row per parcel-owner pair, or a VBDLIS XML exchange file) from a
    local FILE or s3://bucket/key (streamed to a temporary file first). Re-importing updates, never duplicates."""
    settings = get_settings()
    engine = open_database(settings.resolved_database_url)
    with contextlib.ExitStack() as stack:
        if source.startswith("s3://"):
            file = _download(source, Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-import-"))))
        else:
            file = Path(source)
            if not file.is_file():
                raise click.BadParameter(f"{source} is not a file (nor an s3://bucket/key)", param_hint="SOURCE")
        with progress_bar() as bar:
            task = bar.add_task("importing", total=None, rate="")
            report = import_csv(file, engine, progress=lambda n: bar.update(task, completed=n), source=source)
    console.print(report.summary())


def _download(url: str, folder: Path) -> Path:
    """Stream s3://bucket/key into ``folder`` (ranged GETs, never the whole object in memory)."""
    parsed = urlparse(url)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key or key.endswith("/"):
        raise click.BadParameter(f"{url}: give s3://bucket/key of one export file", param_hint="SOURCE")
    s3 = aws.client("s3")
    size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    target = folder / PurePosixPath(key).name
    with progress_bar(transient=True) as bar, target.open("wb") as out:
        task = bar.add_task("downloading", total=size, rate="")
        s3.download_fileobj(bucket, key, out, Callback=lambda n: bar.advance(task, n))
    return target
