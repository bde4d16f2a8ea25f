"""Progress bars for the commands: rich, with an ETA that fills in as soon as one item is done."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class EtaColumn(ProgressColumn):
    """Time left at the average rate since the task started.

    rich's TimeRemainingColumn uses the rate over its last 30 s of updates, and needs two updates in that
    window: a backfill whose results arrive one submission at a time, each taking longer than that, never
    shows an ETA (and one burst of results gives a rate from microseconds apart)."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        remaining = eta_seconds(task.total, task.completed, task.elapsed)
        if remaining is None:
            return Text("ETA -:--:--", style="progress.remaining")
        return Text(f"ETA {timedelta(seconds=round(remaining))}", style="progress.remaining")


def eta_seconds(total: float | None, completed: float, elapsed: float | None) -> float | None:
    """Seconds left for ``total - completed`` items at ``completed / elapsed`` items a second, or None."""
    if total is None or not completed or not elapsed or elapsed <= 0:
        return None
    return max(0.0, (total - completed) * elapsed / completed)


def progress_bar(console: Console, *, transient: bool = False, spinner: bool = False) -> Progress:
    """The commands' bar: description, bar, n/total, a free ``rate`` field, elapsed time and ETA; shown only
    on a terminal."""
    columns: list[ProgressColumn] = [SpinnerColumn()] if spinner else []
    columns += [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        EtaColumn(),
    ]
    return Progress(*columns, console=console, transient=transient, disable=not console.is_terminal)
